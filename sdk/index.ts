export { Director, type DirectorOptions, FLOW_WORDS, DECISION_WORDS } from './director.js';
export { prepareFlow, PreparedFlow } from './flow.js';
export * from './errors.js';
export * from './types.js';
export { parseAddr, formatAddr, formatEndpoint } from './address.js';
export { SCHEDULERS, MH_PRIMES, flagNames } from './schedulers.js';
export { counters } from './core/abi.gen.js';
export {
  NoSuchConnectionError, type ConnInfo, type ConnState, type ConnEventName, type ConnOptions, type Timeouts,
  type PacketInput, type PacketResult, type TcpFlags,
} from './conns.js';
export { previewChange, previewOn, type ChangePreview, type ServicePreview, type DestPreview } from './preview.js';
