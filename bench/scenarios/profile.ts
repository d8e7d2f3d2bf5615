import type { BenchContext } from '../lib/context.js';
export async function runProfile(_ctx: BenchContext): Promise<void> {}
