// The Pusher protocol's door to the hub: which app a connection is for (`/app/<key>`), the wrapped
// connection, and the fan-out tap that encodes each publication (and member change) once more in
// Pusher's shape for the Pusher topic, when this node has Pusher subscribers for it.

import { randomInt } from 'node:crypto';
import type { Config, NamespaceConfig, PusherAppConfig } from '../../config/index.js';
import type { Channel } from '../../hub/delivery.js';
import type { ProtocolDoor } from '../../hub/protocols.js';
import type { Logger } from '../../observability/index.js';
import type { CommandHandler, Session } from '../../session.js';
import type { Connection, Transport, UpgradeRequest } from '../../transport/types.js';
import type { Clock } from '../../util/clock.js';
import { parseNative, pusherError, publicationEvent } from './frames.js';
import { PresenceMembers } from './members.js';
import { appPrefixes, PusherClose } from './names.js';
import { type PusherContext, PusherSession } from './session.js';
import type { PusherWebhooks } from './webhooks.js';
import { PUSHER_TOPIC, PusherWire, TopicCounts } from './wire.js';

/** Protocol versions whose connection protocol this endpoint speaks (pusher-js sends 7). */
const PROTOCOLS = new Set(['5', '6', '7']);

export class PusherProtocol implements ProtocolDoor {
  private readonly byKey = new Map<string, PusherAppConfig>();
  private readonly counts = new TopicCounts();
  /** This node's Pusher connections by socket id. */
  private readonly wires = new Map<string, PusherWire>();
  private readonly members = new PresenceMembers();
  private readonly prefix: string;
  /** The namespaces of apps that keep history: their events carry positions. */
  private readonly positioned = new Set<NamespaceConfig>();
  private ctx: PusherContext | undefined;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly webhooks?: PusherWebhooks,
  ) {
    for (const app of config.pusher.apps) {
      this.byKey.set(app.key, app);
      if (app.history.size === 0) continue;
      for (const prefix of appPrefixes(app.id)) {
        const ns = config.namespaces[prefix.slice(0, -1)];
        if (ns !== undefined) this.positioned.add(ns);
      }
    }
    this.prefix = config.pusher.path;
  }

  claims(url: string): boolean {
    return url.startsWith(this.prefix);
  }

  open(conn: Connection, req: UpgradeRequest, hub: CommandHandler, clock: Clock): Session {
    const wire = new PusherWire(conn, this.counts);
    wire.socketId = `${randomInt(1, 2 ** 47)}.${randomInt(1, 2 ** 47)}`;
    this.wires.set(wire.socketId, wire);
    wire.onReleased = () => this.wires.delete(wire.socketId);
    const url = new URL(req.url, 'http://hubbub');
    const key = safeDecode(url.pathname.slice(this.prefix.length));
    const app = this.byKey.get(key);
    // An unknown key still gets a session (the hub counts and closes it like any other): refused at once.
    const session = new PusherSession(wire, app ?? (this.config.pusher.apps[0] as PusherAppConfig), this.context(hub), clock);
    if (app === undefined) {
      this.log.info({ ip: req.remoteAddress }, 'pusher connection for an unknown app key');
      refuse(wire, PusherClose.appNotFound, `no app with key ${JSON.stringify(key.slice(0, 64))} on this server`);
      return session;
    }
    const protocol = url.searchParams.get('protocol');
    if (protocol !== null && !PROTOCOLS.has(protocol)) {
      refuse(wire, PusherClose.unsupportedProtocol, `protocol ${JSON.stringify(protocol.slice(0, 8))} is not supported; use 7`);
      return session;
    }
    wire.positions = app.history.size > 0;
    session.start();
    return session;
  }

  private context(hub: CommandHandler): PusherContext {
    this.ctx ??= { hub, members: this.members, config: this.config, webhooks: this.webhooks };
    return this.ctx;
  }

  fanOut(ch: Channel, topic: string, frame: string, transport: Transport): void {
    if (topic.startsWith('#jl:')) return this.memberChange(topic, frame, transport);
    const pusherTopic = PUSHER_TOPIC + topic;
    if (!this.counts.has(pusherTopic)) return;
    const native = parseNative(frame);
    const event = native === undefined ? undefined : publicationEvent(native, this.positioned.has(ch.namespace));
    if (event === undefined) return;
    // Only a sender that is itself on this topic here must be left out; otherwise (a backend, a
    // native client, a Pusher client of another node or channel) one topic publish reaches everyone.
    const sender = event.sender === undefined ? undefined : this.wires.get(event.sender);
    if (sender === undefined || !sender.topics.has(pusherTopic)) return transport.publish(pusherTopic, event.frame);
    // Everyone but its sender: one by one, the same bytes to each.
    for (const session of ch.members) {
      const wire = session.conn;
      if (wire instanceof PusherWire && wire.socketId !== event.sender && wire.topics.has(pusherTopic)) wire.raw(event.frame);
    }
  }

  private memberChange(topic: string, frame: string, transport: Transport): void {
    const channel = topic.slice(4);
    if (!this.members.tracks(channel)) return;
    const native = parseNative(frame);
    if (native?.member === undefined) return;
    const out = native.push === 'join' ? this.members.joined(channel, native.member) : this.members.left(channel, native.member);
    if (out !== undefined && this.counts.has(PUSHER_TOPIC + topic)) transport.publish(PUSHER_TOPIC + topic, out);
  }
}

/** Pusher's refusal: the reason as `pusher:error`, then the close with the same code. */
function refuse(wire: PusherWire, code: number, message: string): void {
  wire.raw(pusherError(code, message));
  wire.closeRaw(code, message);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
