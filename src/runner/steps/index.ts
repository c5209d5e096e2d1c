import type { StepKind } from "../../core/domain.js";
import type { StepExecutor } from "./context.js";
import { complete } from "./complete.js";
import {
  disableLocalAuthStep,
  enableLocalAuthStep,
  keyFreeComplete,
  keyFreePreflight,
  proveKeysRefused,
} from "./key-free.js";
import { moveConsumers } from "./move-consumers.js";
import { preflight } from "./preflight.js";
import { publish } from "./publish.js";
import { regenerate } from "./regenerate.js";
import { soak } from "./soak.js";
import { verifyCutover } from "./verify-cutover.js";

export const STEP_EXECUTORS: Readonly<Record<StepKind, StepExecutor>> = {
  preflight,
  regenerate_standby: regenerate,
  publish,
  move_consumers: moveConsumers,
  verify_cutover: verifyCutover,
  regenerate_old: regenerate,
  kill_leaked: regenerate,
  soak,
  complete,
  key_free_preflight: keyFreePreflight,
  disable_local_auth: disableLocalAuthStep,
  prove_keys_refused: proveKeysRefused,
  key_free_complete: keyFreeComplete,
  enable_local_auth: enableLocalAuthStep,
};
export type { StepContext, StepExecutor, StepResult } from "./context.js";
export { GateFailed } from "./verify-cutover.js";
export { rollbackSecrets } from "./rollback.js";
