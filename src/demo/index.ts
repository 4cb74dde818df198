// The demo: pages at / that show what hubbub does in the first minute, the namespaces they use,
// and the simulated metric feed of the dashboard page.

export { DemoFeed, type FeedPoint } from './feed.js';
export { DemoChannels, withDemo } from './namespaces.js';
