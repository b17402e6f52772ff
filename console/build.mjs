// Builds the console into OUT (default ../build/console): one ES module
// bundle (cytoscape in its own chunk, loaded with the graph view), the page
// and its style, each with a .gz beside it. Prints the compressed sizes.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, writeFileSync, copyFileSync, rmSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.OUT || join(here, '..', 'build', 'console');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, 'src', 'main.js') },
  bundle: true, splitting: true, format: 'esm', minify: true, target: 'es2020',
  outdir: out, chunkNames: 'chunk-[hash]', legalComments: 'none', logLevel: 'warning',
});
copyFileSync(join(here, 'src', 'index.html'), join(out, 'index.html'));
copyFileSync(join(here, 'src', 'style.css'), join(out, 'style.css'));
let total = 0;
for (const f of readdirSync(out)) {
  const p = join(out, f);
  if (!statSync(p).isFile() || f.endsWith('.gz')) continue;
  const gz = gzipSync(readFileSync(p), { level: 9 });
  writeFileSync(p + '.gz', gz);
  total += gz.length;
}
console.log(`console: ${out}, ${total} bytes compressed`);
