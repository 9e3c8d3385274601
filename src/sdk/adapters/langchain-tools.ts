import { ToolMessage } from '@langchain/core/messages';
import { tool, type DynamicStructuredTool, type ToolRunnableConfig } from '@langchain/core/tools';
import { z } from 'zod';
import type { Sandbox } from '../sandbox.js';
import { SANDBOX_TOOLS, type SandboxTool, type ToolContext, type ToolOutput } from '../tools/sandbox-tool-set.js';

/**
 * The sandbox tools (src/sdk/tools/sandbox-tool-set.ts) as LangChain tools bound to one
 * sandbox, for `createAgent({ tools })`, LangGraph's ToolNode or `model.bindTools()`.
 *
 * Called with a tool call (as agents do) a tool answers a ToolMessage it builds itself:
 * - the content is the text, followed by the images as standard image blocks (below);
 * - `artifact` is the whole ToolOutput (text, structured `data`, images) for the program;
 * - a command that failed or timed out has `status: 'error'`, LangChain's mark of a failed
 *   call (ToolNode's own error messages carry it), and its output is still the content,
 *   because the model has to read why it failed. `responseFormat: 'content_and_artifact'`
 *   would mark every result a success, hence the message built here.
 * Called with bare arguments it answers the content only.
 *
 * A call the daemon refuses (a missing file, a stopped sandbox) throws its MicrovmError,
 * whose message names the field: ToolNode turns thrown errors into error ToolMessages
 * the model reads, so there is one way to fail and the program can still catch it.
 */

export interface LangchainToolsOptions {
  /**
   * Where images go (plots execute_code found, images read_file read). 'content' (the
   * default): into the ToolMessage's content as LangChain 1.x standard image blocks,
   * which the provider packages translate into their own image parts, so the model sees
   * the plot; Anthropic, Gemini and OpenAI's Responses API accept images in tool results.
   * 'artifact': only in the artifact, for models whose tool results are text only
   * (OpenAI's chat completions).
   */
  images?: 'content' | 'artifact';
}

type Block = { type: 'text'; text: string } | { type: 'image'; mimeType: string; data: string };

export function langchainTools(sandbox: Sandbox, options: LangchainToolsOptions = {}): DynamicStructuredTool[] {
  return SANDBOX_TOOLS.map((definition) => bind(sandbox, definition, options.images ?? 'content'));
}

function bind(sandbox: Sandbox, definition: SandboxTool, images: 'content' | 'artifact'): DynamicStructuredTool {
  return tool(
    async (args: Record<string, unknown>, config: ToolRunnableConfig) => {
      const output = await definition.run(sandbox, args, toolContext(definition.name, config));
      const content = modelContent(output, images);
      const toolCallId = config.toolCall?.id;
      if (!toolCallId) return content;
      return new ToolMessage({ content, artifact: output, tool_call_id: toolCallId, name: definition.name, status: output.isError ? 'error' : 'success' });
    },
    { name: definition.name, description: definition.description, schema: z.object(definition.input) },
  );
}

function modelContent(output: ToolOutput, images: 'content' | 'artifact'): string | Block[] {
  if (images === 'artifact' || output.images.length === 0) return output.text;
  return [{ type: 'text', text: output.text }, ...output.images.map((image): Block => ({ type: 'image', mimeType: image.mimeType, data: image.data }))];
}

/**
 * LangGraph gives a running node's tools a `writer` (what `streamMode: 'custom'` streams):
 * a long command's output so far goes there.
 */
function toolContext(name: string, config: ToolRunnableConfig): ToolContext {
  const writer = (config as { writer?: (chunk: unknown) => void }).writer;
  return {
    ...(config.signal ? { signal: config.signal } : {}),
    ...(writer ? { progress: (message: string) => writer({ tool: name, progress: message }) } : {}),
  };
}
