import * as tar from 'tar';

/** The members of a .tar.gz and the text of its files. */
export async function tarMembers(gz: Buffer): Promise<Map<string, string>> {
  const members = new Map<string, string>();
  const parser = new tar.Parser({
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => members.set(entry.path, Buffer.concat(chunks).toString('utf8')));
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', () => resolve());
    parser.on('error', reject);
    parser.end(gz);
  });
  return members;
}
