// Random names for temp files and tokens. node:crypto is loaded on first use: loading it costs a
// `dopq q` or `push` about as much as its own work, and q only reads.
export async function randomHex(bytes: number): Promise<string> {
  const { randomBytes } = await import('node:crypto');
  return randomBytes(bytes).toString('hex');
}
