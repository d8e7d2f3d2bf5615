import { describe, expect, it } from 'vitest';
import { ChattyError, type ChattyApi } from '../../src/shared/api.js';
import { handleIpcCall } from '../../src/main/bridge';
import { ME } from './fake-client';

/** Only the methods these tests call; the bridge must never reach the others. */
function fakeNode(calls: unknown[]): ChattyApi {
  return {
    whoami: async () => ME,
    send: async (p: unknown) => {
      calls.push(p);
      return { id: 'x', room: 'r', from: ME, text: 't', sentAt: 1 };
    },
    kick: async () => {
      throw new ChattyError('forbidden', 'only owners and moderators can kick');
    },
    history: async () => {
      throw new Error('disk on fire');
    },
  } as unknown as ChattyApi;
}

describe('desktop IPC bridge', () => {
  it('passes validated params to the node and returns its result', async () => {
    const calls: unknown[] = [];
    const res = await handleIpcCall(fakeNode(calls), 'send', { room: 'general', text: 'hi' });
    expect(res).toMatchObject({ ok: true, result: { id: 'x' } });
    expect(calls).toEqual([{ room: 'general', text: 'hi' }]);
    expect(await handleIpcCall(fakeNode(calls), 'whoami', undefined)).toMatchObject({ ok: true, result: { nick: 'me' } });
  });

  it('refuses unknown methods and invalid params before the node sees them', async () => {
    const calls: unknown[] = [];
    const node = fakeNode(calls);
    expect(await handleIpcCall(node, 'constructor', {})).toMatchObject({ ok: false, error: { code: -32601 } });
    expect(await handleIpcCall(node, 42, {})).toMatchObject({ ok: false, error: { code: -32601 } });
    const bad = await handleIpcCall(node, 'send', { room: 'no spaces', text: 'hi' });
    expect(bad).toMatchObject({ ok: false, error: { code: -32602, data: { reason: 'invalid_params' } } });
    expect(await handleIpcCall(node, 'send', { room: 'ok', text: 'hi', extra: true })).toMatchObject({
      ok: false,
      error: { code: -32602 },
    });
    expect(calls).toEqual([]);
  });

  it('serializes API errors with their stable reason, and unexpected ones as internal', async () => {
    const node = fakeNode([]);
    expect(await handleIpcCall(node, 'kick', { room: 'r', peer: 'bob' })).toEqual({
      ok: false,
      error: { code: 1002, message: 'only owners and moderators can kick', data: { reason: 'forbidden' } },
    });
    expect(await handleIpcCall(node, 'history', { room: 'r' })).toMatchObject({
      ok: false,
      error: { code: -32603, data: { reason: 'internal' } },
    });
    expect(await handleIpcCall(undefined, 'whoami', {})).toMatchObject({
      ok: false,
      error: { code: 1010, data: { reason: 'shutting_down' } },
    });
  });
});
