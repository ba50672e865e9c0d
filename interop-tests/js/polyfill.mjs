// Node 20 lacks Promise.withResolvers (added in Node 22), which js-libp2p 3.x
// (@libp2p/utils, yamux, ping, it-queue, ...) calls at run time. This module
// must be imported before anything from libp2p.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
    writable: true,
    configurable: true
  })
}
