/**
 * `npm run docs:api`: writes docs/openrpc.json and docs/api.md from the API's
 * zod schemas (src/shared/api.ts, through the OpenRPC document of
 * src/shared/openrpc.ts). Prose is written here; every table, type, error
 * code and example comes from the document, so the docs follow the code.
 * test/unit/api-docs.test.ts fails when the committed files are stale.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as prettier from 'prettier';
import {
  DISCOVER_METHOD,
  openRpcDocument,
  refName,
  type ContentDescriptor,
  type ErrorObject,
  type ExamplePairing,
  type JsonSchema,
  type MethodObject,
  type NotificationObject,
  type OpenRpcDocument,
} from '../src/shared/openrpc.js';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const OUTPUTS = ['docs/openrpc.json', 'docs/api.md'] as const;
export type Output = (typeof OUTPUTS)[number];

/** The generated files, formatted as Prettier (with the repository's config) would leave them. */
export async function generateApiDocs(doc: OpenRpcDocument = openRpcDocument()): Promise<Record<Output, string>> {
  const raw: Record<Output, string> = { 'docs/openrpc.json': `${JSON.stringify(doc, null, 2)}\n`, 'docs/api.md': renderMarkdown(doc) };
  const out = {} as Record<Output, string>;
  for (const file of OUTPUTS) {
    const filepath = path.join(ROOT, file);
    const config = (await prettier.resolveConfig(filepath)) ?? {};
    out[file] = await prettier.format(raw[file], { ...config, filepath });
  }
  return out;
}

// ---- markdown -----------------------------------------------------------------------------------

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** A table cell: pipes escaped (also inside code spans, as GFM requires), one line. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function code(text: string): string {
  return `\`${text}\``;
}

function range(min: unknown, max: unknown, unit: string): string | undefined {
  if (typeof min === 'number' && typeof max === 'number') return `${min}–${max}${unit}`;
  if (typeof max === 'number') return `≤ ${max}${unit}`;
  if (typeof min === 'number') return `≥ ${min}${unit}`;
  return undefined;
}

/** A short type for tables: shared types link to their section, limits follow the type. */
function typeLabel(s: JsonSchema): string {
  const ref = refName(s);
  if (ref) return `[${ref}](#${anchor(ref)})`;
  if (Array.isArray(s.enum)) return s.enum.map((v) => code(JSON.stringify(v))).join(' | ');
  if (Array.isArray(s.anyOf)) return (s.anyOf as JsonSchema[]).map(typeLabel).join(' | ');
  const types = (Array.isArray(s.type) ? s.type : [s.type ?? 'any']) as string[];
  if (types[0] === 'array') return `${typeLabel((s.items ?? {}) as JsonSchema)}[]`;
  const properties = s.properties as object | undefined;
  if (types[0] === 'object' && properties && Object.keys(properties).length === 0) return '`{}` (an empty object)';
  const limits =
    range(s.minLength, s.maxLength, ' chars') ??
    (types[0] === 'integer' && s.maximum === 9007199254740991 ? undefined : range(s.minimum, s.maximum, ''));
  return `${types.join(' | ')}${limits ? ` (${limits})` : ''}`;
}

function fieldsTable(fields: ContentDescriptor[]): string {
  return table(
    ['name', 'type', 'required', 'description'],
    fields.map((f) => [code(f.name), typeLabel(f.schema), f.required ? 'yes' : 'no', f.description ?? '']),
  );
}

/** Fields of an inline object schema, in the params' own shape. */
function fieldsOf(schema: JsonSchema): ContentDescriptor[] {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, s]) => ({
    name,
    required: required.has(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

function json(value: unknown): string {
  return ['```json', JSON.stringify(value), '```'].join('\n');
}

function exampleParams(example: ExamplePairing): Record<string, unknown> {
  return Object.fromEntries(example.params.map((p) => [p.name, p.value]));
}

function errorList(errors: ErrorObject[]): string {
  return errors.map((e) => `${code(e.data?.reason ?? String(e.code))} (${e.code})`).join(', ');
}

function methodSection(m: MethodObject): string {
  const parts = [`### ${code(m.name)}`, `${m.summary}.${m.description ? ` ${m.description}` : ''}`];
  parts.push(m.params.length ? `**Params**\n\n${fieldsTable(m.params)}` : '**Params**: none.');
  const result = m.result.schema;
  const inline = !refName(result) && result.type === 'object' && Object.keys((result.properties ?? {}) as object).length > 0;
  parts.push(`**Result**: ${typeLabel(result)}${m.result.description ? ` — ${m.result.description}` : ''}${inline ? ':' : '.'}`);
  if (inline) parts.push(fieldsTable(fieldsOf(result)));
  parts.push(`**Errors**: ${errorList(m.errors)}.`);
  const example = m.examples[0];
  if (example) {
    const params = exampleParams(example);
    parts.push('**Example**', json({ jsonrpc: '2.0', id: 1, method: m.name, ...(example.params.length ? { params } : {}) }));
    if (example.result) parts.push('answers', json({ jsonrpc: '2.0', id: 1, result: example.result.value }));
  }
  return parts.join('\n\n');
}

function notificationSection(n: NotificationObject): string {
  const parts = [`### ${code(n.name)} notification`, `${n.summary}.${n.description ? ` ${n.description}` : ''}`];
  parts.push(`**Params**\n\n${fieldsTable(n.params)}`);
  const example = n.examples[0];
  if (example) parts.push('**Example**', json({ jsonrpc: '2.0', method: n.name, params: exampleParams(example) }));
  return parts.join('\n\n');
}

function typeSection(name: string, schema: JsonSchema): string {
  const parts = [`### ${name}`, `${String(schema.description ?? '')}.`];
  if (Array.isArray(schema.enum)) parts.push(`One of ${typeLabel(schema)}.`);
  else parts.push(fieldsTable(fieldsOf(schema)));
  return parts.join('\n\n');
}

function renderMarkdown(doc: OpenRpcDocument): string {
  const methods = doc.methods.filter((m) => m.name !== DISCOVER_METHOD);
  const discover = doc.methods.find((m) => m.name === DISCOVER_METHOD);
  const errors = Object.values(doc.components.errors);
  const sections = [
    `# Chatty control API (version ${doc.info.version})`,
    `<!-- Generated by \`npm run docs:api\` from src/shared/api.ts: edit the schemas or scripts/gen-api-docs.ts, not this file. -->`,
    INTRO,
    TRANSPORTS,
    CONVENTIONS,
    GUARANTEES,
    '## Methods',
    table(
      ['method', 'summary'],
      doc.methods.map((m) => [`[${code(m.name)}](#${anchor(m.name)})`, m.summary]),
    ),
    ...methods.map(methodSection),
    ...(discover ? [methodSection(discover), DISCOVER_NOTE] : []),
    '## Notifications',
    NOTIFICATIONS,
    table(
      ['notification', 'summary'],
      doc['x-notifications'].map((n) => [`[${code(n.name)}](#${anchor(`${n.name} notification`)})`, n.summary]),
    ),
    ...doc['x-notifications'].map(notificationSection),
    '## Types',
    'The shared types of results and notifications (`components.schemas` in the OpenRPC document).',
    ...Object.entries(doc.components.schemas).map(([name, schema]) => typeSection(name, schema)),
    '## Errors',
    ERRORS,
    table(
      ['code', '`data.reason`', 'meaning'],
      errors.map((e) => [String(e.code), code(e.data?.reason ?? ''), e.message]),
    ),
  ];
  return `${sections.join('\n\n')}\n`;
}

// ---- prose --------------------------------------------------------------------------------------

const INTRO = `Every Chatty peer — the desktop app and the headless \`chatty\` — is driven through one control
API: JSON-RPC 2.0 methods with params by name, and notifications the peer pushes. This page is
generated from the schemas in \`src/shared/api.ts\`, which also validate every call; the same
description, as an [OpenRPC](https://spec.open-rpc.org/) document, is [openrpc.json](openrpc.json),
and every transport answers it to the \`rpc.discover\` method.`;

const TRANSPORTS = `## Transports

The three transports carry the same methods, params, results, errors and notifications; only the
framing differs.

### Desktop app: Electron IPC (\`window.chatty\`)

The preload script exposes one object, \`window.chatty\`, to the app's own page (the main process
refuses calls from any other frame):

- \`window.chatty.call(method, params)\` resolves to \`{ ok: true, result }\` or \`{ ok: false, error }\`,
  \`error\` being a JSON-RPC error object (see [Errors](#errors)); it does not reject for an API error.
- \`window.chatty.on(event, listener)\` calls \`listener(params)\` for each notification of that name
  and returns the function that unsubscribes it.

There is no JSON-RPC envelope (\`jsonrpc\`, \`id\`), but the main process validates params with the
same schemas (\`handleIpcCall\` in \`src/main/bridge.ts\`) and the error codes are the same. The
\`ready\` notification is not sent.

### Browser UI: WebSocket \`ws://127.0.0.1:<ui-port>/api\`

A headless peer serves its browser UI on \`http://127.0.0.1:<ui-port>/?token=<token>\` (port 7448 by
default, a free one if taken, \`--ui-port\` to choose, \`--no-ui\` for none) and the API on the
WebSocket \`ws://127.0.0.1:<ui-port>/api?token=<token>\`. It listens on 127.0.0.1 only, and checks:

- the **token**, random for each start, from the URL \`chatty\` prints (and puts in \`ready.ui\`): a
  wrong or missing one is refused with HTTP 401;
- the **\`Origin\`** header, which must be the server's own origin (\`http://127.0.0.1:<ui-port>\` or
  \`http://localhost:<ui-port>\`), and the \`Host\` header, which must name the server: other web
  pages cannot reach the API (HTTP 403). A client outside a browser sets \`Origin\` itself, e.g.
  \`new WebSocket(url, { origin: 'http://127.0.0.1:7448' })\` with the \`ws\` package.

Each text frame (at most 256 KiB) is one JSON-RPC request; batches are not supported. Requests on
one socket are handled concurrently, so match answers by \`id\`. Every notification goes to every
connected socket.

### Scripts: \`chatty --json\` on stdio

\`chatty --json\` speaks JSON-RPC 2.0 on stdin and stdout, **one JSON object per line**; logs go to
stderr, so stdout carries nothing else.

- **The first line is the \`ready\` notification**: this peer's id, nick, port and fingerprint, and
  the browser UI's URL unless \`--no-ui\`. Wait for it before reading answers.
- Requests are handled **one at a time, in line order**, and answered in line order, so a script
  can write \`join\` then \`send\` without waiting for the first answer. (\`send\` and \`dm\` let the
  next line start while they wait for the disk, so a burst of sends shares one flush; their answers
  still come in order.)
- Notifications (no \`id\`) come interleaved with the answers (which carry their request's \`id\`).
- A request without \`id\` runs and is not answered. A line over 1 MiB is refused with
  \`too_large\` and \`id: null\`.
- The process exits after \`shutdown\`, on SIGINT or SIGTERM, and when stdin ends (once every line
  is answered).

\`\`\`sh
printf '%s\\n' '{"jsonrpc":"2.0","id":1,"method":"join","params":{"room":"general"}}' \\
              '{"jsonrpc":"2.0","id":2,"method":"send","params":{"room":"general","text":"hi"}}' |
  npx chatty --json --nick bot --no-ui
\`\`\``;

const CONVENTIONS = `## Conventions

- **Params are by name**, in an object; unknown params are refused with \`invalid_params\`. A method
  without params takes \`{}\` (or no \`params\` at all).
- A **peer** param (\`peer\`, \`to\`) takes a peer id or a nick that exactly one known peer has;
  otherwise the call fails with \`unknown_peer\`, or \`ambiguous\` with the candidates in
  \`data.candidates\`.
- **Peer ids** are the peers' Ed25519 public keys in base64url (43 characters); **message ids** are
  the base64url SHA-256 of the signed event. Times are milliseconds since the epoch, by the author's
  clock.
- \`nick\`, \`room\` and \`query\` are trimmed of surrounding spaces before use.
- Results and notifications may gain fields in later versions of the API (\`info.version\` of the
  OpenRPC document): ignore the ones you do not know.`;

const GUARANTEES = `## Guarantees scripts may rely on

Why they hold, and where they stop, is in [algorithm.md](algorithm.md).

- **No loss once \`send\` returned.** \`send\` and \`dm\` answer only once the message is durable on
  this peer's disk. It then reaches every peer it can reach, directly or relayed by others, even if
  this peer crashes right after (it leaves again at the next start) or the network splits and heals.
- **No duplicates.** A message has one id, is stored once on each peer, appears once in
  \`history\`, and is notified at most once per peer.
- **Causal order.** A peer delivers a message only after everything its author had delivered in that
  room when sending it, and after the author's earlier events: an answer never comes before its
  question, nor a message before its author's join.
- **Same history on every peer once quiet.** Every peer sorts a room by the same total order and
  judges moderation by the same rules, so once the network is connected and no new events are
  flowing, every peer answers \`history\`, \`rooms\` and the members of \`join\` alike.
- Not guaranteed: that others have received a message when \`send\` returns (acknowledgement is
  local); the order of notifications across rooms; \`sentAt\` (the author's clock; order is causal).
  A message from a healed partition may sort before messages already notified: it carries
  \`late: true\`. Notifications are not replayed: after a reconnection, read \`rooms\` and \`history\`
  again.`;

const DISCOVER_NOTE = `\`rpc.discover\` is answered by the JSON-RPC layer itself (\`handleRpc\` for stdio and the
WebSocket, \`handleIpcCall\` for IPC), even while the peer is starting or stopping. Its result is
[openrpc.json](openrpc.json), where notifications are in the \`x-notifications\` extension (OpenRPC
describes only what a client calls).`;

const NOTIFICATIONS = `Notifications are JSON-RPC requests without \`id\`, sent by the peer:
\`{"jsonrpc":"2.0","method":"message","params":{…}}\`. Nothing answers them. Over IPC they reach
\`window.chatty.on(name, listener)\`.`;

const ERRORS = `An error answer is \`{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…,"data":{"reason":…}}}\`
(over IPC, \`{ ok: false, error }\` with the same \`error\`). Scripts should test \`code\` or
\`data.reason\`, which are stable; \`message\` is for humans and may change. \`data\` may carry more
(\`issues\` for \`invalid_params\`, \`candidates\` for \`ambiguous\`). Each method lists the errors it
raises itself; besides those, any call may fail with \`invalid_request\`, \`unknown_method\` or
\`internal\`; over IPC with \`shutting_down\` while no peer runs (the app starting or stopping); and
on stdio or the WebSocket with \`parse_error\` (not JSON), on stdio with \`too_large\` (a line over 1 MiB).`;

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const files = await generateApiDocs();
  for (const file of OUTPUTS) {
    await writeFile(path.join(ROOT, file), files[file]);
    process.stdout.write(`wrote ${file}\n`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
