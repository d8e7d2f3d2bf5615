import type { BenchContext } from '../lib/context.js';
export async function runUi(_ctx: BenchContext): Promise<void> {}
