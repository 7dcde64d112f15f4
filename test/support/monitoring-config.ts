/** The deploy/ configs rewritten for tests: the code lives in src/demo/monitoring.ts (`npm run demo` uses it too). */
export * from '../../src/demo/monitoring';
