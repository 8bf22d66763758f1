// What a failed engine call says: its HTTP status, to branch on, and Docker's own text, to show.

/** The engine's HTTP status of a failed call (404 no such object, 409 conflict, ...), if it had one. */
export function statusOf(error: unknown): number | undefined {
  return (error as { statusCode?: number } | undefined)?.statusCode;
}

/** Docker's own message, without dockerode's "(HTTP code 500) server error -" prefix. */
export function dockerMessage(error: unknown): string {
  const err = error as { json?: { message?: string }; message?: string; reason?: string };
  const text = err.json?.message ?? err.message ?? String(error);
  return text.replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '').trim();
}
