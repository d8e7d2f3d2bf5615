/**
 * SQLite through Node's built-in `node:sqlite` (Node >= 22.16, and the Node inside Electron 38):
 * no native addon, so the same code loads in the headless peer and in Electron's main process with
 * nothing to compile for either runtime's ABI, and nothing to unpack from the app's asar.
 *
 * This module adds what the built-in lacks and the store needs: typed statements and nestable
 * transactions (BEGIN/COMMIT, savepoints inside), on top of `DatabaseSync`.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

type Sqlite = typeof import('node:sqlite');

let sqlite: Sqlite | undefined;

/**
 * Loads `node:sqlite` once. Node 22 still labels it experimental and prints a warning on first load
 * to every peer's stderr; the API used here (DatabaseSync, prepared statements, exec) is the
 * stable subset, so that one warning is dropped and every other warning goes through.
 */
function load(): Sqlite {
  if (sqlite) return sqlite;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === 'string' ? warning : warning.message;
    const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
    if (type === 'ExperimentalWarning' && text.startsWith('SQLite')) return;
    (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    sqlite = process.getBuiltinModule('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
  if (!sqlite) throw new Error(`node:sqlite is not available in Node ${process.versions.node}: Chatty needs Node >= 22.16`);
  return sqlite;
}

/** Opens (creating) a database file. `timeout`: how long a statement waits for another process' lock. */
export function openDatabase(file: string): DatabaseSync {
  const sqlite = load();
  // Node 26.11 renamed the class to `Database` and deprecated the old name.
  const Database = (sqlite as { Database?: typeof DatabaseSync }).Database ?? sqlite.DatabaseSync;
  return new Database(file, { timeout: 5000 });
}

/** A prepared statement with its parameter and row types. */
export interface Statement<P extends SQLInputValue[], R> {
  get(...params: P): R | undefined;
  all(...params: P): R[];
  run(...params: P): void;
}

/** Prepares `sql` once; the row type is the caller's promise about the SELECT's columns. */
export function prepare<P extends SQLInputValue[] = [], R = never>(db: DatabaseSync, sql: string): Statement<P, R> {
  const stmt: StatementSync = db.prepare(sql);
  return {
    get: (...params) => stmt.get(...params) as R | undefined,
    all: (...params) => stmt.all(...params) as R[],
    run: (...params) => void stmt.run(...params),
  };
}

let savepoints = 0;

/**
 * Runs `fn` in a transaction: committed if it returns, rolled back if it throws. Inside another
 * transaction it becomes a savepoint, so an inner failure undoes only the inner work.
 */
export function transaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) {
    const name = `sp${++savepoints}`;
    db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      db.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw err;
    }
  }
  db.exec('BEGIN');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    // A failed COMMIT may have ended the transaction already.
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
