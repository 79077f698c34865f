// Partition vectors from KafkaJS itself, for the project's partitioner tests.
//
// Computes, with KafkaJS's own Partitioners.LegacyPartitioner (the spec's producers) and
// Partitioners.DefaultPartitioner (KafkaJS's Java-compatible one), the partition chosen for
// every key below and each partition count, and prints them as one JSON document.
//
// Regenerate (KafkaJS installed outside the repository):
//   mkdir -p /tmp/kjs && (cd /tmp/kjs && npm install kafkajs@2.2.4)
//   NODE_PATH=/tmp/kjs/node_modules node tests/vectors/kafkajs_partitions.js \
//       > tests/vectors/kafkajs_partitions.json
'use strict'

const { Partitioners } = require('kafkajs')
const kafkajsVersion = require('kafkajs/package.json').version

const COUNTS = [1, 2, 3, 4, 5, 7, 12, 16, 100]
const COMMAND =
  'NODE_PATH=/tmp/kjs/node_modules node tests/vectors/kafkajs_partitions.js' +
  ' > tests/vectors/kafkajs_partitions.json'

// A small seeded generator (mulberry32): the same keys on every run.
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Keys as JS strings (KafkaJS hashes their UTF-8 bytes) and as raw bytes (Buffers).
const textKeys = []
const byteKeys = []
for (let s = 1; s <= 5; s++) {
  for (let n = 1; n <= 263; n++) textKeys.push(`element-${s}-${n}`)
}
textKeys.push('', 'a', 'ab', 'abc', 'abcd', 'abcde', 'site-1', 'element.raw_data')
textKeys.push('21', 'foobar', 'a-little-bit-long-string', 'a-little-bit-longer-string')
textKeys.push('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')
textKeys.push('élément-1-1', 'антенна-7', '望远镜-3-42', '📡-5-263', 'ü', '€€', '𝛑')
const random = rng(20261127)
const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/ '
for (let i = 0; i < 200; i++) {
  const length = Math.floor(random() * 41)
  let key = ''
  for (let j = 0; j < length; j++) key += alphabet[Math.floor(random() * alphabet.length)]
  textKeys.push(key)
}
const unicode = ['é', 'ß', 'Ω', 'ж', '中', '文', 'ü', '😀', '🔭', 'a', '-', '9']
for (let i = 0; i < 50; i++) {
  const length = 1 + Math.floor(random() * 12)
  let key = ''
  for (let j = 0; j < length; j++) key += unicode[Math.floor(random() * unicode.length)]
  textKeys.push(key)
}
for (let i = 0; i < 100; i++) {
  const length = Math.floor(random() * 33)
  const bytes = Buffer.alloc(length)
  for (let j = 0; j < length; j++) bytes[j] = Math.floor(random() * 256)
  byteKeys.push(bytes)
}

function partitionsOf(createPartitioner) {
  const out = {}
  for (const count of COUNTS) {
    const partitioner = createPartitioner()
    const partitionMetadata = []
    for (let p = 0; p < count; p++) partitionMetadata.push({ partitionId: p, leader: 0 })
    const place = key => partitioner({ topic: 't', partitionMetadata, message: { key } })
    out[count] = { text: textKeys.map(place), bytes: byteKeys.map(place) }
  }
  return out
}

const doc = {
  generated_by: COMMAND,
  kafkajs_version: kafkajsVersion,
  note:
    'legacy: Partitioners.LegacyPartitioner; default: Partitioners.DefaultPartitioner ' +
    '(Java-compatible murmur2). text_keys are hashed as UTF-8, byte_keys_hex as bytes.',
  partition_counts: COUNTS,
  text_keys: textKeys,
  byte_keys_hex: byteKeys.map(b => b.toString('hex')),
  legacy: partitionsOf(Partitioners.LegacyPartitioner),
  default: partitionsOf(Partitioners.DefaultPartitioner),
}
process.stdout.write(JSON.stringify(doc) + '\n')
