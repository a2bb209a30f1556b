// Stylesheets imported by a webview's entry are emitted by esbuild beside its bundle (dist/webview/NAME.css).
declare module '*.css';
