// Formatting the webviews share with the extension and the CLI: pure functions, no Node or VS Code API.
export { formatBytes } from '../core/util/format';
