/** The deploy/ configs rewritten for tests: the code lives in demo/monitoring.ts (`npm run demo` uses it too). */
export * from '../../demo/monitoring';
