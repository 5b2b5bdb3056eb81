export { AbortError, type ErrorCode, SdError } from "./errors.js";
export {
  type ComponentInfo,
  type LoadOptions,
  loadModel,
  Model,
  type ModelFamily,
  type ModelFormat,
  type ModelInfo,
} from "./model.js";
