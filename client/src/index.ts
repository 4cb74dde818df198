// hubbub's client SDK for browsers and Node: `new HubClient(url)`, then subscribe, publish,
// presence and leaderboards over one WebSocket that reconnects and recovers by itself.

export { HubClient } from './client.js';
export { HubError } from './errors.js';
export { Leaderboard, Subscription, type SubscriptionState } from './subscription.js';
export type {
  BoardEntry,
  ClientEvents,
  ClientInfo,
  ClientState,
  ConnectInfo,
  DisconnectInfo,
  HistoryOptions,
  HistoryResult,
  HubClientOptions,
  LeaderboardEvents,
  LeaderboardOptions,
  Message,
  PresenceStats,
  StreamPosition,
  SubscribedInfo,
  SubscribeOptions,
  SubscriptionEvents,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
