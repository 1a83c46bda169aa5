/** Server-sent events from a byte stream: the parser is pure, so it is tested without a server. */

export interface SSEMessage {
  event: string;
  data: string;
}

/** Feeds text as it arrives; returns the whole messages it completed (comments are dropped). */
export class SSEParser {
  private buffer = '';

  push(text: string): SSEMessage[] {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const messages: SSEMessage[] = [];
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = value;
        else if (name === 'data') data.push(value);
      }
      if (data.length) messages.push({ event, data: data.join('\n') });
    }
    return messages;
  }
}

/** The wait before reconnect attempt ``attempt`` (0-based): 0.5 s doubling up to 30 s. */
export function backoffMs(attempt: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(attempt, 10));
}
