import type { StoredEvent } from "../core/ports.js";

/** An events row as both stores keep it (payload: canonical JSON text, hashed as is). */
export interface EventRow {
  seq: number;
  change_id: string | null;
  type: string;
  at: string;
  actor: string | null;
  payload: string;
  prev_hash: string;
  hash: string;
}

export const toEvent = (r: EventRow): StoredEvent => ({
  seq: r.seq,
  changeId: r.change_id,
  type: r.type,
  at: r.at,
  actor: r.actor,
  payload: JSON.parse(r.payload) as unknown,
  prevHash: r.prev_hash,
  hash: r.hash,
});
