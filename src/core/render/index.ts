export {
  renderApprovalRequest,
  renderBreakGlassAlert,
  renderChangeCard,
  renderNotice,
  changeTitle,
  type Decision,
} from "./change.js";
export { renderStepReply } from "./step-reply.js";
export {
  approvalDmSentence,
  decisionOpen,
  inWords,
  renderApprovalDm,
  type ApprovalDmOptions,
} from "./approval-dm.js";
export { approversInWords, labelValues, userTextOf, versionLabel } from "./plain.js";
export {
  renderAck,
  renderError,
  renderHelp,
  renderHistory,
  renderInventory,
  renderList,
  renderOwner,
  renderStatus,
  renderVerify,
} from "./answers.js";
