/**
 * The API's documentation is generated (scripts/gen-api-docs.ts): the committed files must match
 * what the schemas give today, the OpenRPC document must hold together, and every transport must
 * answer `rpc.discover` with it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { WebSocket } from 'ws';
import { generateApiDocs, OUTPUTS, ROOT } from '../../scripts/gen-api-docs.js';
import { startUiServer } from '../../src/cli/ui-server.js';
import { handleIpcCall } from '../../src/main/bridge.js';
import {
  ChattyError,
  ERROR_CODES,
  EVENT_NAMES,
  eventPayloads,
  methodParams,
  methodResults,
  RPC_ERROR_CODES,
  type MethodName,
} from '../../src/shared/api.js';
import { handleRpc, RpcClient } from '../../src/shared/jsonrpc.js';
import {
  DISCOVER_METHOD,
  EVENT_EXAMPLES,
  METHOD_EXAMPLES,
  openRpcDocument,
  type JsonSchema,
  type OpenRpcDocument,
} from '../../src/shared/openrpc.js';
import { fakeService } from '../helpers/fake-service.js';

const service = fakeService({}, new ChattyError('not_found', 'the documentation needs no node'));
const methodNames = Object.keys(methodParams) as MethodName[];

describe('generated API docs', () => {
  it('are up to date with the schemas', { timeout: 30_000 }, async () => {
    const fresh = await generateApiDocs();
    for (const file of OUTPUTS) {
      const committed = await readFile(path.join(ROOT, file), 'utf8').catch(() => '');
      expect(committed === fresh[file], `${file} is stale: run \`npm run docs:api\` and commit the result`).toBe(true);
    }
  });
});

describe('OpenRPC document', () => {
  const doc = openRpcDocument();

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    expect(doc.openrpc).toMatch(/^1\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String), description: expect.any(String) });
  });

  it('describes every method, with by-name params, a result and errors', () => {
    expect(doc.methods.map((m) => m.name)).toEqual([...methodNames, DISCOVER_METHOD]);
    for (const m of doc.methods) {
      expect(m.summary, m.name).toBeTruthy();
      expect(m.paramStructure).toBe('by-name');
      expect(Array.isArray(m.params), m.name).toBe(true);
      expect(m.result.name, m.name).toBeTruthy();
      expect(typeof m.result.schema, m.name).toBe('object');
      for (const e of m.errors) expect(doc.components.errors[e.data!.reason]).toEqual(e);
    }
    for (const name of methodNames) {
      const m = doc.methods.find((x) => x.name === name)!;
      const shape = methodParams[name].shape as Record<string, { isOptional(): boolean }>;
      expect(m.params.map((p) => p.name)).toEqual(Object.keys(shape));
      for (const p of m.params) {
        expect(p.required, `${name}.${p.name}`).toBe(!shape[p.name]!.isOptional());
        expect(p.description, `${name}.${p.name} has no description`).toBeTruthy();
      }
    }
  });

  it('lists every notification and every error code', () => {
    expect(EVENT_NAMES.toSorted()).toEqual(Object.keys(eventPayloads).toSorted());
    expect(doc['x-notifications'].map((n) => n.name)).toEqual([...EVENT_NAMES]);
    for (const n of doc['x-notifications']) expect(n.params.length, n.name).toBeGreaterThan(0);
    const codes = Object.fromEntries(Object.entries(doc.components.errors).map(([reason, e]) => [reason, e.code]));
    expect(codes).toEqual({ ...RPC_ERROR_CODES, ...ERROR_CODES });
  });

  it('resolves every $ref and documents every field', () => {
    const refs: string[] = [];
    const undocumented: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (Array.isArray(node)) return node.forEach((x, i) => walk(x, `${where}/${i}`));
      if (typeof node !== 'object' || node === null) return;
      const obj = node as JsonSchema;
      if (typeof obj.$ref === 'string') refs.push(obj.$ref);
      if (obj.properties && typeof obj.properties === 'object') {
        for (const [name, s] of Object.entries(obj.properties as Record<string, JsonSchema>)) {
          if (typeof s.description !== 'string') undocumented.push(`${where}/${name}`);
        }
      }
      for (const [k, v] of Object.entries(obj)) if (k !== 'examples') walk(v, `${where}/${k}`);
    };
    walk(doc, '#');
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref.startsWith('#/'), ref).toBe(true);
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((at, key) => (at as Record<string, unknown> | undefined)?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
      expect(target, `${ref} does not resolve`).toBeTypeOf('object');
    }
    expect(undocumented).toEqual([]);
  });

  it('has examples that the schemas accept', () => {
    for (const m of methodNames) {
      expect(() => methodParams[m].parse(METHOD_EXAMPLES[m].params), m).not.toThrow();
      expect(() => methodResults[m].parse(METHOD_EXAMPLES[m].result), m).not.toThrow();
    }
    for (const e of EVENT_NAMES) expect(() => eventPayloads[e].parse(EVENT_EXAMPLES[e]), e).not.toThrow();
  });
});

describe('rpc.discover', () => {
  const doc = openRpcDocument();

  it('is answered by the JSON-RPC framing, with any empty params, without the node', async () => {
    for (const params of [undefined, {}, []]) {
      const req = { jsonrpc: '2.0', id: 7, method: 'rpc.discover', ...(params ? { params } : {}) };
      expect(await handleRpc(service, JSON.stringify(req))).toEqual({ jsonrpc: '2.0', id: 7, result: doc });
    }
    expect(await handleRpc(service, { jsonrpc: '2.0', id: 8, method: 'rpc.discover', params: { x: 1 } })).toMatchObject({
      id: 8,
      error: { code: -32602, data: { reason: 'invalid_params' } },
    });
    expect(await handleRpc(service, { jsonrpc: '2.0', method: 'rpc.discover' })).toBeNull();
    expect(await handleRpc(service, { jsonrpc: '2.0', id: 9, method: 'rpc.other' })).toMatchObject({ error: { code: -32601 } });
  });

  it('is answered over the desktop IPC bridge, even before the node runs', async () => {
    expect(await handleIpcCall(service, 'rpc.discover', {})).toEqual({ ok: true, result: doc });
    expect(await handleIpcCall(undefined, 'rpc.discover', undefined)).toEqual({ ok: true, result: doc });
    expect(await handleIpcCall(undefined, 'rpc.discover', { x: 1 })).toMatchObject({ ok: false, error: { code: -32602 } });
  });

  it('has a typed result on the client', async () => {
    const client: RpcClient = new RpcClient((text) => {
      void handleRpc(service, text).then((res) => client.receive(JSON.stringify(res)));
    });
    const answer = await client.call('rpc.discover');
    expectTypeOf(answer).toEqualTypeOf<OpenRpcDocument>();
    expect(answer).toEqual(doc);
  });

  it("is answered on the browser UI's WebSocket", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'chatty-docs-'));
    const server = await startUiServer({ service, port: 0, staticDir: dir });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${server.token}`, { origin: `http://127.0.0.1:${server.port}` });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const answer = new Promise<unknown>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.discover' }));
      expect(await answer).toEqual({ jsonrpc: '2.0', id: 1, result: doc });
      ws.close();
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is answered by `chatty --json` on stdio', { timeout: 30_000 }, async () => {
    // The stdio front end on a fake node, in a child process of its own (it owns stdin and stdout).
    const script = [
      `import { serveStdio } from ${JSON.stringify(path.join(ROOT, 'src/cli/stdio-rpc.ts'))};`,
      `import { fakeService } from ${JSON.stringify(path.join(ROOT, 'test/helpers/fake-service.ts'))};`,
      `await serveStdio(fakeService({}, new Error('no node')));`,
    ].join('\n');
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: 'pipe' });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stdin.end(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.discover' })}\n`);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(
      out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([{ jsonrpc: '2.0', id: 1, result: doc }]);
  });
});
