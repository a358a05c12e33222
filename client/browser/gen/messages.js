// The bundle's entry (make web): the v1 Stylize messages and the protobuf runtime the page needs,
// built into dist/messages.js so that the browser loads them from the gateway as one ES module.
export { create, fromBinary, toBinary } from '@bufbuild/protobuf';
export { FrameEncoding, EncodedImageSchema } from './protos/mvstylizer/v1/media_pb.js';
export {
  KeyFrameSchema,
  SessionConfigSchema,
  StylizeRequestSchema,
  StylizeResponseSchema,
} from './protos/mvstylizer/v1/stylizer_pb.js';
