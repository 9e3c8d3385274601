import { tool, type Tool, type ToolResultPart } from 'ai';
import { z } from 'zod';
import type { Sandbox } from '../sandbox.js';
import { SANDBOX_TOOLS, type SandboxTool, type ToolOutput } from '../tools/sandbox-tool-set.js';

/**
 * The sandbox tools (src/sdk/tools/sandbox-tool-set.ts) as Vercel AI SDK tools bound to
 * one sandbox: `generateText({ model, tools: aiSdkTools(sandbox) })`.
 *
 * `execute` answers the whole ToolOutput (text, structured `data`, images), which is what
 * the program and a UI see; `toModelOutput` decides what the model reads: the text, then
 * images as image parts, and a failed command as an error result (its output is the
 * error's text, since the model has to read why it failed). A call the daemon refuses
 * throws its MicrovmError (the message names the field), which the AI SDK reports as a
 * tool error and sends to the model as one.
 */

export type AiSdkSandboxTool = Tool<Record<string, unknown>, ToolOutput>;
/** `ai` re-exports the part, not its output's type. */
type ToolResultOutput = ToolResultPart['output'];

export function aiSdkTools(sandbox: Sandbox): Record<string, AiSdkSandboxTool> {
  return Object.fromEntries(SANDBOX_TOOLS.map((definition) => [definition.name, bind(sandbox, definition)]));
}

function bind(sandbox: Sandbox, definition: SandboxTool): AiSdkSandboxTool {
  return tool({
    title: definition.title,
    description: definition.description,
    inputSchema: z.object(definition.input),
    execute: (args, { abortSignal }) => definition.run(sandbox, args, abortSignal ? { signal: abortSignal } : {}),
    toModelOutput: ({ output }) => modelOutput(output),
  });
}

/** What the model reads of a result; exported for programs that build messages themselves. */
export function modelOutput(output: ToolOutput): ToolResultOutput {
  if (output.images.length > 0) {
    return {
      type: 'content',
      value: [{ type: 'text', text: output.text }, ...output.images.map((image) => ({ type: 'image-data' as const, data: image.data, mediaType: image.mimeType }))],
    };
  }
  return output.isError ? { type: 'error-text', value: output.text } : { type: 'text', value: output.text };
}
