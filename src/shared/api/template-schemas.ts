import { Type, type Static } from 'typebox';

export const TemplateSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  built: Type.Boolean({ description: 'Its image is built and cached for the current inputs' }),
  default: Type.Boolean({ description: 'What create uses when no template is given' }),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
});
export type Template = Static<typeof TemplateSchema>;

export const TemplateListSchema = Type.Object({ templates: Type.Array(TemplateSchema) });
export type TemplateList = Static<typeof TemplateListSchema>;

export const TemplateParamsSchema = Type.Object({ name: Type.String({ minLength: 1 }) });
export type TemplateParams = Static<typeof TemplateParamsSchema>;
