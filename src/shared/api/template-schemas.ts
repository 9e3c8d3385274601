import { Type, type Static } from 'typebox';

export const TemplateDisplaySchema = Type.Object({
  width: Type.Integer(),
  height: Type.Integer(),
  depth: Type.Integer(),
});
export type TemplateDisplay = Static<typeof TemplateDisplaySchema>;

export const TemplateSchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  kind: Type.Union([Type.Literal('initramfs'), Type.Literal('rootfs')], {
    description: 'initramfs: kernel + initramfs, no disk (minimal); rootfs: a Debian disk image each sandbox gets a copy-on-write disk over',
  }),
  source: Type.Union([Type.Literal('builtin'), Type.Literal('user')], { description: "Shipped with the app, or a definition in the user's config directory" }),
  defaults: Type.Object(
    {
      vcpus: Type.Integer(),
      memoryMiB: Type.Integer(),
      diskMiB: Type.Union([Type.Integer(), Type.Null()], { description: 'The disk size sandboxes get unless create says otherwise; null without a disk' }),
    },
    { description: "What a sandbox of this template gets when create does not say" },
  ),
  display: Type.Union([Type.Null(), TemplateDisplaySchema], { description: 'The guest screen (desktop templates); null when there is none' }),
  built: Type.Boolean({ description: 'An image of it is built and cached' }),
  default: Type.Boolean({ description: 'What create uses when no template is given' }),
  sizeBytes: Type.Union([Type.Integer(), Type.Null()]),
});
export type Template = Static<typeof TemplateSchema>;

export const TemplateDefinitionErrorSchema = Type.Object({
  name: Type.String({ description: 'The template the file would define (its file name)' }),
  file: Type.String(),
  message: Type.String({ description: 'What is wrong, naming the file and the field' }),
});
export type TemplateDefinitionError = Static<typeof TemplateDefinitionErrorSchema>;

export const TemplateListSchema = Type.Object({
  templates: Type.Array(TemplateSchema),
  errors: Type.Array(TemplateDefinitionErrorSchema, { description: 'Definition files that could not be used (left out of templates)' }),
});
export type TemplateList = Static<typeof TemplateListSchema>;

export const TemplateParamsSchema = Type.Object({ name: Type.String({ minLength: 1 }) });
export type TemplateParams = Static<typeof TemplateParamsSchema>;
