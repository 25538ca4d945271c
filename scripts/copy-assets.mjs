// Copies non-TypeScript assets (the config JSON Schema) next to the compiled code, and marks the bin executable.
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
mkdirSync('dist/config', { recursive: true });
copyFileSync('src/config/config.schema.json', 'dist/config/config.schema.json');
chmodSync('dist/main.js', 0o755);
