// Builds enricher.js into a WebAssembly component with componentize-js.
//
// Usage: node build.mjs [OUTPUT]   (default: ../../../target/plugins/js-enricher.wasm)
//
// Every WASI feature of the JavaScript engine is disabled, so the component
// imports nothing but Beacon's `log`. Paths are made absolute: componentize-js
// resolves relative ones against its own folder.
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = resolve(process.argv[2] ?? resolve(here, '../../../target/plugins/js-enricher.wasm'));

const { component } = await componentize({
  sourcePath: resolve(here, 'enricher.js'),
  witPath: resolve(here, '../../../wit'),
  worldName: 'publisher',
  disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
});

// Written next to the output, then renamed: a reader never sees half a file.
await mkdir(dirname(output), { recursive: true });
const partial = `${output}.tmp`;
await writeFile(partial, component);
await rename(partial, output);
console.log(`${output}: ${component.length} bytes`);
