/**
 * The pages the daemon shows a browser that has no session yet. They echo nothing from the
 * request, so nothing a link carries can end up in them.
 */

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title} · MicroVM Sandbox</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #1f2328; }
code { background: #f0f2f4; padding: 0.1rem 0.3rem; border-radius: 4px; }
</style>
</head>
<body>
<h1>${title}</h1>
${body}
</body>
</html>
`;
}

const HOW_TO_OPEN = `<p>Open the link that <code>npm start</code> (or <code>microvm serve --port N</code>) printed:
it ends in <code>/?token=…</code> and opens a session in this browser. Lost it? <code>microvm token show</code>
prints the token; open this address with <code>/?token=&lt;token&gt;</code> after it.</p>`;

/** A browser without a session: how to get one. */
export function signInPage(): string {
  return page('Open the access link', HOW_TO_OPEN);
}

/** A `/?token=` link whose token is not (or no longer) the daemon's. */
export function wrongTokenPage(): string {
  return page(
    'This access link is not valid',
    `<p>The token in the link is not the daemon's current token: it may have been rotated (<code>microvm token rotate</code>).</p>\n${HOW_TO_OPEN}`,
  );
}

/** A display link that was used already, has expired, or was never issued. */
export function expiredDisplayLinkPage(): string {
  return page(
    'This display link is not valid',
    `<p>A display link opens once, within five minutes of being made. Ask for a new one (the MCP tool <code>get_display_url</code>,
or <code>POST /api/v1/sandboxes/&lt;id&gt;/display/link</code>).</p>\n${HOW_TO_OPEN}`,
  );
}
