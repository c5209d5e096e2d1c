export {
  renderApprovalRequest,
  renderBreakGlassAlert,
  renderChangeCard,
  renderNotice,
  renderStepReply,
  changeTitle,
} from "./change.js";
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
