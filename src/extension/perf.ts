// Imported first by main.ts, so this mark is taken when the bundle starts to evaluate.
export const loadStart = performance.now();
performance.mark('modelyard:load');
