import t from 'tap';
import { createLogger } from '../../gateway/log.js';

t.test('credentials never reach the log, by field name or by value', (t) => {
  const lines: string[] = [];
  const log = createLogger({ format: 'json', level: 'debug', write: (l) => lines.push(l), secrets: ['s3cr3t-pw'] });
  log.child({ module: 'mqtt' }).info('connecting', { url: 'mqtts://broker:8883', password: 'hunter22', note: 'uses s3cr3t-pw inside' });
  t.equal(lines.length, 1);
  const line = lines[0] ?? '';
  t.notMatch(line, /hunter22/);
  t.notMatch(line, /s3cr3t-pw/);
  const record = JSON.parse(line) as Record<string, unknown>;
  t.equal(record.password, '[redacted]');
  t.equal(record.module, 'mqtt');
  t.equal(record.url, 'mqtts://broker:8883');
  t.end();
});

t.test('levels below the threshold are dropped; pretty format is one line', (t) => {
  const lines: string[] = [];
  const log = createLogger({ format: 'pretty', level: 'warn', write: (l) => lines.push(l) });
  log.info('hidden');
  log.warn('shown', { deviceId: 'm1', token: 'abc' });
  t.equal(lines.length, 1);
  t.match(lines[0], /WARN +shown deviceId=m1 token=\[redacted\]$/);
  t.end();
});
