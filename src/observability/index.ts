export { createLogger, type Logger } from './logger.js';
export { Metrics, type MetricsSource } from './metrics.js';
