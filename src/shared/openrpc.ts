/**
 * The OpenRPC 1.x document of the control API, built from the zod schemas of
 * api.ts with `z.toJSONSchema`: what `rpc.discover` answers on every transport,
 * and what `npm run docs:api` writes to docs/openrpc.json and renders as
 * docs/api.md. No Node or DOM imports: the framing (jsonrpc.ts) serves it.
 *
 * Shape: by-name params from each params object's properties, the result
 * schema, the application errors each method may raise, one example each;
 * shared types in `components.schemas`, referenced by `$ref`; every error code
 * in `components.errors`. JSON Schema draft-07, the dialect OpenRPC 1.x uses.
 *
 * Notifications go in an `x-notifications` extension, not in `methods`:
 * OpenRPC describes what a client may call, and `message` or `peer` flow the
 * other way — listed as methods, they would tell generated clients they can
 * call them (and `dm` and `typing` would collide with the methods of the same
 * name). The extension reuses the method object's shape (name, summary,
 * by-name params), so a reader of `methods` reads it alike, and tools that do
 * not know it ignore it, as the specification requires of `x-` fields.
 */
import { z } from 'zod';
import {
  API_TYPES,
  API_VERSION,
  ERROR_CODES,
  ERROR_DOCS,
  EVENT_DOCS,
  EVENT_NAMES,
  eventPayloads,
  fingerprint,
  METHOD_DOCS,
  methodParams,
  methodResults,
  RPC_ERROR_CODES,
  RPC_ERROR_DOCS,
  type ErrorReason,
  type EventName,
  type EventPayloads,
  type MethodName,
  type MethodResults,
  type ParamsOf,
  type RpcErrorReason,
} from './api.js';

export const OPENRPC_VERSION = '1.3.2';
/** The OpenRPC service-discovery method: answered by the framing, not by the node. */
export const DISCOVER_METHOD = 'rpc.discover';

export type JsonSchema = { [key: string]: unknown };

export interface ContentDescriptor {
  name: string;
  description?: string;
  required?: boolean;
  schema: JsonSchema;
}

export interface ErrorObject {
  code: number;
  message: string;
  data?: { reason: string };
}

export interface ExamplePairing {
  name: string;
  params: { name: string; value: unknown }[];
  result?: { name: string; value: unknown };
}

export interface MethodObject {
  name: string;
  summary: string;
  description?: string;
  paramStructure: 'by-name';
  params: ContentDescriptor[];
  result: ContentDescriptor;
  errors: ErrorObject[];
  examples: ExamplePairing[];
  externalDocs?: { url: string; description?: string };
}

/** A server-to-client notification: a method object without result or errors. */
export interface NotificationObject {
  name: string;
  summary: string;
  description?: string;
  paramStructure: 'by-name';
  params: ContentDescriptor[];
  examples: ExamplePairing[];
}

export interface OpenRpcDocument {
  openrpc: string;
  info: { title: string; version: string; description: string; license: { name: string } };
  methods: MethodObject[];
  components: { schemas: Record<string, JsonSchema>; errors: Record<string, ErrorObject> };
  'x-notifications': NotificationObject[];
}

/** Methods the JSON-RPC framing answers itself, with their results (for the typed client). */
export interface FramingResults {
  [DISCOVER_METHOD]: OpenRpcDocument;
}

// ---- examples: typed, so they cannot drift from the API ------------------------------------------

const ALICE = { peerId: 'q2VnJ3bS8xWf0tQm4rYcL6dUaZ1pHk9oTe5iGw7NvXs', nick: 'alice' };
const BOB = { peerId: 'Bb7tR0cYw2LmQ9sVx4nPk1eZu6jHa8dFg3oWi5KyTqE', nick: 'bob' };
/** Rooms are named by id in results; a call may use the name while only one known room has it. */
const GENERAL = '!gN3rAl5Xq8wZ2cV7bM1kJ4hF6dS9aP0oI-uY_tR5eWq';
const ROOM = { id: GENERAL, room: GENERAL, name: 'general', owner: ALICE };
const MESSAGE = {
  id: 'mS4gT7yZ1qWv9cX2bN6hJ0kL3pR8uE5aD-fG_iO4tYw',
  room: GENERAL,
  roomName: 'general',
  from: ALICE,
  text: 'hello',
  sentAt: 1_767_225_600_000,
};
const DM = {
  id: 'dM1qA5zX8wE3rT6yU0iO9pL2kJ7hG4fD-sA_zX1cVbn',
  room: null,
  from: ALICE,
  to: BOB,
  text: 'hi bob',
  sentAt: 1_767_225_660_000,
};
const FILE_ID = 'fL9kQ2wE5rT8yU1iO4pA7sD0fG3hJ6kL-zX_cV9bN2m';
const PHOTO = {
  id: FILE_ID,
  name: 'whiteboard.jpg',
  size: 2_481_337,
  mime: 'image/jpeg',
  sha256: 'h4Sx1qW7eR0tY3uI6oP9aS2dF5gH8jK1lZ-xC_vB4nM',
  image: { width: 4032, height: 3024, thumbnail: 'data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ…' },
};
const FILE_MESSAGE = {
  ...MESSAGE,
  id: 'fM3nB6vC9xZ2lK5jH8gF1dS4aP7oI0uY-tR_eW3qAsD',
  text: 'the whiteboard after the meeting',
  file: { ...PHOTO, transfer: { received: PHOTO.size, total: PHOTO.size, state: 'done' as const, path: '/home/alice/whiteboard.jpg' } },
};
const TRANSFER = {
  file: FILE_ID,
  received: 1_048_576,
  total: PHOTO.size,
  state: 'running' as const,
  path: '/home/bob/.local/share/chatty/downloads/whiteboard.jpg',
};
const MEMBERS = [
  { ...ALICE, role: 'owner' as const, online: true, status: 'online' as const },
  { ...BOB, role: 'member' as const, online: true, status: 'busy' as const, statusText: 'in a meeting until 3' },
];
const WHOAMI = { ...ALICE, port: 7447, fingerprint: fingerprint(ALICE.peerId), status: 'online' as const, readReceipts: true };
const REPLY = {
  ...MESSAGE,
  id: 'rP5lY8tG2hN6mK0jB3vC7xZ1qW4eR9sD-aF_uI6oPyk',
  from: BOB,
  text: 'hello to you',
  replyTo: MESSAGE.id,
  reactions: [{ emoji: '👍', count: 1, peers: [ALICE], mine: true }],
};

type MethodExamples = { [M in MethodName]: { params: ParamsOf<M>; result: MethodResults[M] } };

/** One call of each method, as a script would make it. */
export const METHOD_EXAMPLES: MethodExamples = {
  whoami: { params: {}, result: WHOAMI },
  setNick: { params: { nick: 'alice' }, result: ALICE },
  peers: {
    params: {},
    result: [
      {
        ...BOB,
        connected: true,
        addresses: ['ws://192.168.1.12:7447'],
        state: 'connected',
        source: 'mdns',
        fingerprint: fingerprint(BOB.peerId),
        status: 'busy',
        statusText: 'in a meeting until 3',
      },
    ],
  },
  connect: { params: { url: 'ws://192.168.1.12:7447' }, result: { peerId: BOB.peerId } },
  rooms: { params: {}, result: [{ ...ROOM, joined: true, private: false, banned: [], members: MEMBERS }] },
  join: { params: { room: 'general' }, result: { ...ROOM, members: MEMBERS, history: [MESSAGE] } },
  invite: { params: { room: 'secret', peer: 'bob' }, result: {} },
  leave: { params: { room: GENERAL }, result: { room: GENERAL } },
  send: { params: { room: 'general', text: 'hello' }, result: MESSAGE },
  react: { params: { message: REPLY.id, emoji: '👍' }, result: REPLY },
  unreact: { params: { message: REPLY.id, emoji: '👍' }, result: { ...REPLY, reactions: undefined } },
  edit: {
    params: { message: MESSAGE.id, text: 'hello, everyone' },
    result: { ...MESSAGE, text: 'hello, everyone', edited: 1_767_225_720_000 },
  },
  delete: { params: { message: MESSAGE.id }, result: { ...MESSAGE, text: '', deleted: true } },
  editHistory: {
    params: { message: MESSAGE.id },
    result: [
      { text: 'hello', at: MESSAGE.sentAt },
      { text: 'hello, everyone', at: 1_767_225_720_000 },
    ],
  },
  message: { params: { id: REPLY.id }, result: REPLY },
  setStatus: { params: { status: 'busy', text: 'in a meeting until 3' }, result: { status: 'busy', statusText: 'in a meeting until 3' } },
  markRead: { params: { room: 'general', message: REPLY.id }, result: { room: GENERAL, message: REPLY.id, unread: 0, mentions: 0 } },
  readMarkers: {
    params: {},
    result: [
      { room: GENERAL, message: MESSAGE.id, unread: 1, mentions: 0 },
      { peer: BOB.peerId, message: DM.id, unread: 0, mentions: 0 },
    ],
  },
  setReadReceipts: { params: { enabled: false }, result: { enabled: false } },
  history: { params: { room: 'general', limit: 50 }, result: [MESSAGE, REPLY] },
  dm: { params: { to: 'bob', text: 'hi bob' }, result: DM },
  dmHistory: { params: { peer: 'bob', limit: 50 }, result: [{ ...DM, seen: true }] },
  sendFile: {
    params: { room: 'general', path: '/home/alice/whiteboard.jpg', text: 'the whiteboard after the meeting' },
    result: FILE_MESSAGE,
  },
  download: { params: { file: FILE_ID }, result: TRANSFER },
  cancelTransfer: { params: { file: FILE_ID }, result: { ...TRANSFER, state: 'cancelled' } },
  kick: { params: { room: 'general', peer: 'bob', reason: 'flooding' }, result: {} },
  ban: { params: { room: 'general', peer: 'bob', reason: 'flooding' }, result: {} },
  unban: { params: { room: 'general', peer: 'bob' }, result: {} },
  setRole: { params: { room: 'general', peer: 'bob', role: 'moderator' }, result: {} },
  typing: { params: { room: 'general' }, result: {} },
  search: { params: { query: 'hello', room: 'general' }, result: [MESSAGE] },
  stats: {
    params: {},
    result: {
      links: 4,
      frames: { sent: 1520, received: 1498 },
      bytes: { sent: 402_113, received: 398_870 },
      events: { relayed: 960, duplicates: 41, pauses: 0 },
    },
  },
  shutdown: { params: {}, result: {} },
};

/** One notification of each kind. */
export const EVENT_EXAMPLES: { [E in EventName]: EventPayloads[E] } = {
  ready: { ...WHOAMI, ui: 'http://127.0.0.1:7448/?token=3mQ…' },
  message: { ...MESSAGE, from: BOB, text: 'hi alice', id: 'rE2pL8vN5xQ1wZ7cT4yB0mK3jH6gF9dS-aU_iO2eRtk' },
  dm: { ...DM, from: BOB, to: ALICE, text: 'hi!', id: 'tY6uI1oP4aS7dF0gH3jK9lZ2xC5vB8nM-qW_eR3tYuj' },
  member: { room: GENERAL, roomName: 'general', peerId: BOB.peerId, nick: 'bob', change: 'role', role: 'moderator', by: ALICE.peerId },
  peer: { ...BOB, state: 'up' },
  typing: { room: GENERAL, ...BOB },
  identity: { nick: 'bob', peerId: 'Zz3xC6vB9nM2qW5eR8tY1uI4oP7aS0dF-gH_jK6lZxw', knownPeerId: BOB.peerId },
  transfer: TRANSFER,
  update: { ...REPLY, reactions: [{ emoji: '👍', count: 2, peers: [ALICE, BOB], mine: true }] },
  status: { ...BOB, status: 'away' },
  read: { room: GENERAL, message: REPLY.id, unread: 0, mentions: 0 },
  seen: { peer: BOB.peerId, message: DM.id },
};

// ---- the document --------------------------------------------------------------------------------

const SCHEMAS_PATH = '#/components/schemas/';
/** Id of the one object that carries every method's and event's schemas through a single conversion. */
const ALL = '__all';

/** Converts everything at once, so shared types come out as `$ref`s to `components.schemas`. */
function convertSchemas(): {
  components: Record<string, JsonSchema>;
  params: Record<MethodName, JsonSchema>;
  results: Record<MethodName, JsonSchema>;
  events: Record<EventName, JsonSchema>;
} {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(API_TYPES)) registry.add(schema, { id });
  const methods = Object.keys(methodParams) as MethodName[];
  const shape: Record<string, z.ZodType> = {};
  for (const m of methods) {
    shape[`params:${m}`] = methodParams[m];
    shape[`result:${m}`] = methodResults[m];
  }
  for (const e of EVENT_NAMES) shape[`event:${e}`] = eventPayloads[e];
  registry.add(z.object(shape), { id: ALL });
  // `input`: params as a caller may write them; results and events stay open to new fields.
  const { schemas } = z.toJSONSchema(registry, { target: 'draft-07', io: 'input', uri: (id) => SCHEMAS_PATH + id }) as {
    schemas: Record<string, JsonSchema>;
  };
  const clean = ({ $schema: _s, $id: _i, ...rest }: JsonSchema): JsonSchema => rest;
  const all = schemas[ALL]?.properties as Record<string, JsonSchema>;
  const pick = <K extends string>(prefix: string, keys: readonly K[]) =>
    Object.fromEntries(keys.map((k) => [k, all[`${prefix}:${k}`]!])) as Record<K, JsonSchema>;
  const components = Object.fromEntries(Object.keys(API_TYPES).map((id) => [id, clean(schemas[id]!)]));
  return { components, params: pick('params', methods), results: pick('result', methods), events: pick('event', EVENT_NAMES) };
}

/** By-name params of an object schema, in declaration order. */
function byName(schema: JsonSchema): ContentDescriptor[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
    required: required.has(name),
    schema: s,
  }));
}

/** Follows a top-level `$ref` (or a described `allOf` of one) into the components. */
export function resolveRef(schema: JsonSchema, components: Record<string, JsonSchema>): JsonSchema {
  const ref = refName(schema);
  return ref ? (components[ref] ?? schema) : schema;
}

/** The component a schema refers to, if it is only a reference to one. */
export function refName(schema: JsonSchema): string | undefined {
  const target = Array.isArray(schema.allOf) && schema.allOf.length === 1 ? (schema.allOf[0] as JsonSchema) : schema;
  return typeof target.$ref === 'string' && target.$ref.startsWith(SCHEMAS_PATH) ? target.$ref.slice(SCHEMAS_PATH.length) : undefined;
}

function appError(reason: ErrorReason): ErrorObject {
  return { code: ERROR_CODES[reason], message: ERROR_DOCS[reason], data: { reason } };
}

function rpcError(reason: RpcErrorReason): ErrorObject {
  return { code: RPC_ERROR_CODES[reason], message: RPC_ERROR_DOCS[reason], data: { reason } };
}

function examplePairing(name: string, params: object, result?: unknown): ExamplePairing {
  return {
    name,
    params: Object.entries(params).map(([n, value]) => ({ name: n, value: value as unknown })),
    ...(result !== undefined ? { result: { name: 'result', value: result } } : {}),
  };
}

const DESCRIPTION = [
  'Control API of a Chatty peer: JSON-RPC 2.0 with params by name.',
  'Served to the desktop app over Electron IPC (`window.chatty`), to the browser UI over `ws://127.0.0.1:<ui-port>/api?token=…`,',
  'and to scripts by `chatty --json` on stdin/stdout, one JSON object per line.',
  'Errors carry a stable `data.reason`. Notifications pushed by the peer are in `x-notifications`.',
].join(' ');

function buildDocument(): OpenRpcDocument {
  const { components, params, results, events } = convertSchemas();
  const methods: MethodObject[] = (Object.keys(methodParams) as MethodName[]).map((name) => {
    const doc = METHOD_DOCS[name];
    const result = results[name];
    return {
      name,
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      paramStructure: 'by-name',
      params: byName(params[name]),
      result: {
        name: refName(result) ?? `${name}Result`,
        ...(typeof result.description === 'string' ? { description: result.description } : {}),
        schema: result,
      },
      errors: [...doc.errors.map(appError), rpcError('invalid_params')],
      examples: [examplePairing(`${name} example`, METHOD_EXAMPLES[name].params, METHOD_EXAMPLES[name].result)],
    };
  });
  methods.push({
    name: DISCOVER_METHOD,
    summary: 'This document: the OpenRPC description of the API',
    description: 'Answered by the JSON-RPC layer on every transport, whatever the state of the peer.',
    paramStructure: 'by-name',
    params: [],
    result: {
      name: 'OpenrpcDocument',
      description: 'The OpenRPC document',
      schema: {
        type: 'object',
        $comment: 'https://raw.githubusercontent.com/open-rpc/meta-schema/master/schema.json',
        required: ['openrpc', 'info', 'methods'],
      },
    },
    errors: [rpcError('invalid_params')],
    examples: [examplePairing('rpc.discover example', {})],
    externalDocs: { url: 'https://spec.open-rpc.org/#service-discovery-method', description: 'OpenRPC service discovery' },
  });
  const notifications: NotificationObject[] = EVENT_NAMES.map((name) => ({
    name,
    summary: EVENT_DOCS[name].summary,
    ...(EVENT_DOCS[name].description ? { description: EVENT_DOCS[name].description } : {}),
    paramStructure: 'by-name',
    // a payload that is a shared type (a Message) is listed by its fields, like any other
    params: byName(resolveRef(events[name], components)),
    examples: [examplePairing(`${name} example`, EVENT_EXAMPLES[name])],
  }));
  const errors = Object.fromEntries([
    ...(Object.keys(RPC_ERROR_CODES) as RpcErrorReason[]).map((r) => [r, rpcError(r)] as const),
    ...(Object.keys(ERROR_CODES) as ErrorReason[]).map((r) => [r, appError(r)] as const),
  ]);
  return {
    openrpc: OPENRPC_VERSION,
    info: { title: 'Chatty control API', version: API_VERSION, description: DESCRIPTION, license: { name: 'MIT' } },
    methods,
    components: { schemas: components, errors },
    'x-notifications': notifications,
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

let cached: OpenRpcDocument | undefined;

/**
 * The document, built once (on the first `rpc.discover`, not at import: the renderer never needs
 * it) and frozen, since every in-process caller gets the same object.
 */
export function openRpcDocument(): OpenRpcDocument {
  cached ??= deepFreeze(buildDocument());
  return cached;
}
