// The error classes of SPEC §2: each carries its AgentFlow code and HTTP status, so one place
// (http/envelope.ts) can turn any of them into the envelope.

export class AgentFlowError extends Error {
  readonly code: number = 5000;
  readonly status: number = 500;
  /** Partial result to return with the error (e.g. the output collected before a timeout). */
  data: unknown = null;

  constructor(message: string, data?: unknown) {
    super(message);
    this.name = new.target.name;
    if (data !== undefined) this.data = data;
  }
}

export class ToolNotFoundError extends AgentFlowError {
  override readonly code = 1001;
  override readonly status = 404;
}

export class ParameterError extends AgentFlowError {
  override readonly code = 1002;
  override readonly status: number = 400;
}

/** A body larger than the configured limit: 1002 with HTTP 413. */
export class PayloadTooLargeError extends ParameterError {
  override readonly status = 413;
}

export class SessionError extends AgentFlowError {
  override readonly code = 1003;
  override readonly status: number = 404;
}

/** The session exists but cannot take this request in its current state. */
export class SessionStateError extends SessionError {
  override readonly status = 409;
}

/** The session's live resource is gone for good (its container died): 1003, and the core
 * removes the session, so the worker's next call starts afresh. */
export class SessionLostError extends SessionError {}

export class WorkerNotFoundError extends AgentFlowError {
  override readonly code = 1004;
  override readonly status = 404;
}

export class ResourceTypeNotFoundError extends AgentFlowError {
  override readonly code = 1005;
  override readonly status = 404;
}

export class PermissionError extends AgentFlowError {
  override readonly code = 1006;
  override readonly status: number = 403;
}

/** No key, or a wrong one: 1006 with HTTP 401. */
export class AuthenticationError extends PermissionError {
  override readonly status = 401;
}

export class BackendError extends AgentFlowError {
  override readonly code = 2001;
  override readonly status = 502;
}

export class ExecutionTimeoutError extends AgentFlowError {
  override readonly code = 2002;
  override readonly status = 504;
}

/** The caller gave the call up (an MCP cancellation): stopped the way a timeout stops it. */
export class ExecutionCancelledError extends ExecutionTimeoutError {}

export class WarmupError extends AgentFlowError {
  override readonly code = 2003;
  override readonly status = 503;
}

export class ResourceUnavailableError extends AgentFlowError {
  override readonly code = 2004;
  override readonly status = 503;
}

export class InternalError extends AgentFlowError {}

export class ConfigError extends AgentFlowError {
  override readonly code = 5001;
  override readonly status = 500;
}

export class ServiceUnavailableError extends AgentFlowError {
  override readonly code = 5002;
  override readonly status = 503;
}
