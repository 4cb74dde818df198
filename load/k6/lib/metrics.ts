// The metrics every scenario reports, by one name each so thresholds and dashboards read alike.
// Created in k6's init context (module scope), as k6 requires.

import { Counter, Trend } from 'k6/metrics';

/** Send time (carried in the data as `t`) to receipt, ms, live deliveries only. */
export const latency = new Trend('delivery_latency_ms', true);
/** Publications received. */
export const deliveries = new Counter('deliveries');
/** A publication that was not the previous offset + 1: something in between never arrived. */
export const gaps = new Counter('gaps');
/** Publications the stream holds (or this VU had acknowledged) that never reached a subscriber. */
export const lost = new Counter('lost');
/** Error replies, failed requests, socket errors and closes nobody asked for. */
export const errors = new Counter('errors');
/** Publications the hub acknowledged. */
export const published = new Counter('published');
