export { closeLogger, createLogger, dropLogger, type Logger } from './logger.js';
export { Metrics, type MetricsSource } from './metrics.js';
