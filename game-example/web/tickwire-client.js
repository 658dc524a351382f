// tickwire-client.js: a small, dependency-free Socket.IO v5 client for browsers.
//
// Engine.IO v4 over one WebSocket (no polling, no upgrade): the server opens with
// `0{"sid",...,"pingInterval","pingTimeout"}`, pings with `2` (we answer `3`), and carries
// Socket.IO packets in `4...` messages. Socket.IO packets are encoded by a pluggable
// parser: `jsonParser` (the standard text format, `42["event",arg]`, acks `42<id>[...]`
// and `43<id>[...]`) or one built on the compact binary codec (see codecs.js), which
// sends one binary WebSocket frame per packet.
//
//   import { connect, jsonParser } from './tickwire-client.js';
//   const socket = connect(location.origin, { parser: jsonParser });
//   socket.on('connect', () => socket.emit('hello', { name: 'Ada' }));
//   const answer = await socket.emitWithAck('rtt', 1);
//
// Reserved events: `connect`, `disconnect` (reason), `connect_error` (Error; `err.data` is
// the data of the server's CONNECT_ERROR, if any).

/** Socket.IO packet types. */
export const PacketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

/**
 * The standard Socket.IO JSON parser. A packet is `{type, nsp, id, data}`; an EVENT's data
 * is `[event, ...args]`, an ACK's `[...args]`.
 */
export const jsonParser = {
  name: 'json',
  encode(packet) {
    let out = String(packet.type);
    if (packet.nsp && packet.nsp !== '/') out += packet.nsp + ',';
    if (packet.id !== undefined && packet.id !== null) out += String(packet.id);
    if (packet.data !== undefined) out += JSON.stringify(packet.data);
    return out;
  },
  decode(frame) {
    if (typeof frame !== 'string') throw new Error('json parser: binary frame unexpected');
    const type = frame.charCodeAt(0) - 48;
    if (!(type >= 0 && type <= 6)) throw new Error('json parser: bad packet type');
    if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) {
      throw new Error('json parser: binary attachments are not supported');
    }
    let i = 1;
    let nsp = '/';
    if (frame[i] === '/') {
      const comma = frame.indexOf(',', i);
      nsp = comma < 0 ? frame.slice(i) : frame.slice(i, comma);
      i = comma < 0 ? frame.length : comma + 1;
    }
    let digits = '';
    while (i < frame.length && frame[i] >= '0' && frame[i] <= '9') digits += frame[i++];
    const body = frame.slice(i);
    return {
      type,
      nsp,
      id: digits ? Number(digits) : undefined,
      data: body ? JSON.parse(body) : undefined,
    };
  },
};

class Emitter {
  constructor() {
    this._handlers = new Map();
  }
  on(event, fn) {
    if (!this._handlers.has(event)) this._handlers.set(event, []);
    this._handlers.get(event).push(fn);
    return this;
  }
  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }
  off(event, fn) {
    const list = this._handlers.get(event);
    if (list) this._handlers.set(event, fn ? list.filter((f) => f !== fn) : []);
    return this;
  }
  _fire(event, ...args) {
    for (const fn of [...(this._handlers.get(event) || [])]) {
      try {
        fn(...args);
      } catch (e) {
        console.error(`handler of ${event} failed`, e);
      }
    }
  }
}

/**
 * A connection to namespace `/` of a Socket.IO server.
 */
export class Socket extends Emitter {
  /**
   * @param {string} base  http(s) origin of the server, e.g. `location.origin`
   * @param {object} opts  `{parser, query, path, auth, connectTimeout, ackTimeout}`
   */
  constructor(base, opts = {}) {
    super();
    this.parser = opts.parser || jsonParser;
    this.path = opts.path || '/socket.io/';
    this.query = opts.query || {};
    this.auth = opts.auth;
    this.connectTimeout = opts.connectTimeout ?? 10000;
    this.ackTimeout = opts.ackTimeout ?? 10000;
    this.connected = false;
    this.id = undefined;
    this._nextAck = 0;
    this._acks = new Map();
    this._closed = false;
    this._open(base);
  }

  _open(base) {
    const url = new URL(this.path, base);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('EIO', '4');
    url.searchParams.set('transport', 'websocket');
    for (const [k, v] of Object.entries(this.query)) url.searchParams.set(k, v);
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this._connectTimer = setTimeout(() => this._fail('connect timeout'), this.connectTimeout);
    ws.onmessage = (ev) => this._onFrame(ev.data);
    ws.onclose = () => this._onClose('transport close');
    ws.onerror = () => this._fail('transport error');
  }

  _fail(reason) {
    this._onClose(reason);
  }

  _resetHeartbeat() {
    clearTimeout(this._heartbeat);
    if (!this._pingInterval) return;
    // The server pings every pingInterval; give up when one is pingTimeout late.
    this._heartbeat = setTimeout(
      () => this._onClose('ping timeout'),
      this._pingInterval + this._pingTimeout,
    );
  }

  _sendPacket(packet) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const encoded = this.parser.encode(packet);
    if (typeof encoded === 'string') this.ws.send('4' + encoded);
    else this.ws.send(encoded);
    return true;
  }

  _onFrame(data) {
    if (typeof data !== 'string') {
      this._onPacketFrame(data);
      return;
    }
    switch (data[0]) {
      case '0': {
        // Engine.IO open.
        const open = JSON.parse(data.slice(1));
        this._pingInterval = open.pingInterval;
        this._pingTimeout = open.pingTimeout;
        this._resetHeartbeat();
        this._sendPacket({ type: PacketType.CONNECT, nsp: '/', data: this.auth });
        break;
      }
      case '2':
        this.ws.send('3' + data.slice(1));
        this._resetHeartbeat();
        break;
      case '1':
        this._onClose('transport close');
        break;
      case '4':
        this._onPacketFrame(data.slice(1));
        break;
      default:
        break;
    }
  }

  _onPacketFrame(frame) {
    let packet;
    try {
      packet = this.parser.decode(frame);
    } catch (e) {
      this._fire('parse_error', e);
      console.warn('tickwire-client: undecodable packet', e);
      return;
    }
    if (!packet || (packet.nsp && packet.nsp !== '/')) return;
    switch (packet.type) {
      case PacketType.CONNECT:
        clearTimeout(this._connectTimer);
        this.connected = true;
        this.id = packet.data && packet.data.sid;
        this._fire('connect');
        break;
      case PacketType.CONNECT_ERROR:
        // `err.data` is what the server attached (e.g. `{code}` of a refused token).
        this._onClose((packet.data && packet.data.message) || 'refused', false, packet.data && packet.data.data);
        break;
      case PacketType.DISCONNECT:
        this._onClose('io server disconnect');
        break;
      case PacketType.EVENT: {
        const [event, ...args] = packet.data || [];
        if (packet.id !== undefined) {
          const id = packet.id;
          args.push((...reply) =>
            this._sendPacket({ type: PacketType.ACK, nsp: '/', id, data: reply, event }),
          );
        }
        this._fire(event, ...args);
        break;
      }
      case PacketType.ACK: {
        const pending = this._acks.get(packet.id);
        if (!pending) return;
        this._acks.delete(packet.id);
        clearTimeout(pending.timer);
        try {
          const args = this.parser.decodeAck
            ? this.parser.decodeAck(pending.event, packet)
            : packet.data || [];
          pending.resolve(args.length <= 1 ? args[0] : args);
        } catch (e) {
          pending.reject(e);
        }
        break;
      }
      default:
        break;
    }
  }

  _onClose(reason, byUser = false, data = undefined) {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._connectTimer);
    clearTimeout(this._heartbeat);
    const wasConnected = this.connected;
    this.connected = false;
    for (const pending of this._acks.values()) {
      clearTimeout(pending.timer);
      pending.reject(new Error('disconnected'));
    }
    this._acks.clear();
    try {
      this.ws.close();
    } catch {
      /* already closed */
    }
    if (wasConnected) this._fire('disconnect', reason);
    else if (!byUser) {
      const error = new Error(reason);
      if (data !== undefined) error.data = data;
      this._fire('connect_error', error);
    }
  }

  /** Emit `event` with its arguments. Returns whether it was handed to the socket. */
  emit(event, ...args) {
    return this._sendPacket({ type: PacketType.EVENT, nsp: '/', data: [event, ...args] });
  }

  /** Emit and resolve with the server's ack (its single argument, or an array). */
  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      const id = this._nextAck++;
      const timer = setTimeout(() => {
        this._acks.delete(id);
        reject(new Error(`no ack for ${event} within ${this.ackTimeout} ms`));
      }, this.ackTimeout);
      this._acks.set(id, { event, resolve, reject, timer });
      if (!this._sendPacket({ type: PacketType.EVENT, nsp: '/', id, data: [event, ...args] })) {
        clearTimeout(timer);
        this._acks.delete(id);
        reject(new Error('not connected'));
      }
    });
  }

  /** Leave the namespace and close the connection. */
  close() {
    if (this.connected) this._sendPacket({ type: PacketType.DISCONNECT, nsp: '/' });
    this._onClose('io client disconnect', true);
  }
}

/** Connect to the server at `base` (an http(s) origin). */
export function connect(base, opts = {}) {
  return new Socket(base, opts);
}
