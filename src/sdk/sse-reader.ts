import type { Readable } from 'node:stream';

export interface ServerSentEvent {
  event: string;
  data: string;
}

/** Parses a text/event-stream body into its events (comments and heartbeats skipped). */
export async function* readServerSentEvents(stream: Readable): AsyncGenerator<ServerSentEvent> {
  stream.setEncoding('utf8');
  let buffered = '';
  let event = 'message';
  let data: string[] = [];
  for await (const chunk of stream as AsyncIterable<string>) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).replace(/\r$/, '');
      buffered = buffered.slice(newline + 1);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n') };
        event = 'message';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
    }
  }
}
