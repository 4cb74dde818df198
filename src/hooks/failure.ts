// Why a hook call gave no usable answer. Each kind ends the same way for the client
// (`backend_unavailable`); the kind is for the log line and the operator.

export type HookFailureKind = 'timeout' | 'failed' | 'malformed';

export class HookFailure extends Error {
  override readonly name = 'HookFailure';

  constructor(
    readonly kind: HookFailureKind,
    message: string,
  ) {
    super(message);
  }
}
