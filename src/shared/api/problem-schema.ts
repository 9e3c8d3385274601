import { Type, type Static } from 'typebox';

/** RFC 9457 problem details, as every API error is returned (application/problem+json). */
export const ProblemSchema = Type.Object({
  type: Type.String({ description: 'A URI naming the problem kind; ends with the code' }),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String({ description: 'What was wrong, naming the field or object' }),
  code: Type.String({ description: 'Stable machine-readable code' }),
  requestId: Type.String(),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type Problem = Static<typeof ProblemSchema>;

/** A streamed body (file content, console output): documented as bytes, never serialized as JSON. */
export const ByteStreamSchema = Type.Unsafe<unknown>({ type: 'string', format: 'binary' });

export const PROBLEM_TYPE_BASE = 'https://microvm-sandbox.dev/problems/';
