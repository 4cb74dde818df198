// Patterns where `*` stands for any run of characters (of a class the caller picks) and every
// other character stands for itself, compiled once into anchored regular expressions. Used for
// token capabilities (`chat:*`) and origin allow-lists (`https://*.example.com`).

export function globToRegExp(pattern: string, star = '.*', flags = 's'): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
    .join(star);
  return new RegExp(`^${body}$`, flags);
}
