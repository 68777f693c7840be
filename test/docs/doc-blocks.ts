import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The TypeScript blocks of the docs that are compiled (and some run) by the tests: every
 * block after a `<!-- compiled: <group> -->` comment (`<!-- compiled: <group> browser -->`
 * for browser code) is the file its first line names (`// export.controller.ts`); a group is
 * one folder of files that import each other.
 */
export const ROOT = resolve(__dirname, '../..');
export const DOCS = ['README.md', 'docs/recipes.md'];
/** README sections whose every `ts` block must be compiled. */
const README_COMPILED_SECTIONS = ['Quick start', 'Options'];

export interface DocBlock {
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  group: string;
  browser: boolean;
  file: string;
  code: string;
}

const MARKER = /^<!-- compiled: ([a-z0-9-]+)( browser)? -->$/;
const FILE_LINE = /^\/\/ ([\w.-]+\.ts)\b/;

/** Every fenced block of a markdown text, with the marker comment before it (blank lines between allowed). */
function fencedBlocks(
  markdown: string,
): { line: number; lang: string; code: string; marker?: string; section: string }[] {
  const lines = markdown.split('\n');
  const blocks: { line: number; lang: string; code: string; marker?: string; section: string }[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^##+ (.*)$/.exec(lines[i]!);
    if (heading) section = heading[1]!;
    const fence = /^(\s*)```(\w*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const indent = fence[1]!;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!.slice(indent.length));
    let before = start - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const marker = before >= 0 && MARKER.test(lines[before]!.trim()) ? lines[before]!.trim() : undefined;
    blocks.push({ line: start + 1, lang: fence[2]!, code: body.join('\n') + '\n', marker, section });
  }
  return blocks;
}

/** The marked blocks, and the `ts` blocks that should be marked but are not (`doc:line (section)`). */
export function compiledBlocks(): { blocks: DocBlock[]; unmarked: string[] } {
  const blocks: DocBlock[] = [];
  const unmarked: string[] = [];
  for (const doc of DOCS) {
    for (const block of fencedBlocks(readFileSync(join(ROOT, doc), 'utf8'))) {
      const where = `${doc}:${block.line}`;
      if (block.marker === undefined) {
        const mustCompile = doc !== 'README.md' || README_COMPILED_SECTIONS.includes(block.section);
        if (block.lang === 'ts' && mustCompile) unmarked.push(`${where} (${block.section})`);
        continue;
      }
      if (block.lang !== 'ts') throw new Error(`${where}: a compiled block must be \`\`\`ts`);
      const [, group, browser] = MARKER.exec(block.marker)!;
      const file = FILE_LINE.exec(block.code)?.[1];
      if (file === undefined) throw new Error(`${where}: a compiled block starts with "// <file>.ts"`);
      blocks.push({
        doc,
        line: block.line,
        group: group!,
        browser: browser !== undefined,
        file,
        code: block.code,
      });
    }
  }
  return { blocks, unmarked };
}
