// Validates an AsyncAPI document with @asyncapi/parser 3.x (the parser the
// AsyncAPI generators and Studio use): prints every diagnostic of severity
// error or warning, one a line, and exits 1 when the document has an error or
// did not parse, 0 otherwise. Usage: node tests/api/asyncapi_check.mjs
// [api/asyncapi.yaml]. Relative $refs resolve from the document's folder.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Parser, fromFile } from '@asyncapi/parser';

const path = resolve(process.argv[2] ?? 'api/asyncapi.yaml');
const severities = ['error', 'warning', 'info', 'hint'];

const parser = new Parser();
let result;
try {
    await readFile(path);
    result = await fromFile(parser, path).parse();
} catch (err) {
    console.error(`asyncapi: ${path}: ${err.message}`);
    process.exit(1);
}
let errors = 0;
for (const d of result.diagnostics) {
    const sev = severities[d.severity] ?? String(d.severity);
    if (sev === 'error') errors++;
    if (sev !== 'error' && sev !== 'warning') continue;
    const where = d.path && d.path.length ? d.path.join('.') : '(document)';
    console.error(`asyncapi: ${sev}: ${where}: ${d.message} [${d.code}]`);
}
if (!result.document || errors > 0) {
    console.error(`asyncapi: ${path}: ${errors} error(s), document ${result.document ? 'parsed' : 'NOT parsed'}`);
    process.exit(1);
}
const doc = result.document;
console.log(`asyncapi: ${path}: parsed, ${doc.channels().length} channels, ` +
    `${doc.operations().length} operations, ${doc.components().messages().length} messages, no errors`);
