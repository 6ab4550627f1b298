// Type declarations of @packedge/js-sdk (hand-written: the sources are plain JavaScript).

export interface PackedgeOptions {
  /** Attributes the events to one of the product's licenses. */
  licenseKey?: string;
  /**
   * The PackEdge server, e.g. `https://packedge.example.com` (an ingestion URL such as
   * `…/public/v1/event` means the same server). Optional only when the SDK itself was
   * loaded from that server's `/static/sdk/`.
   */
  endpoint?: string;
  /** The customer's domain; defaults to the page's host name. */
  site?: string;
  /** Queued events that trigger a send at once (default 20). */
  batchSize?: number;
  /** Milliseconds an event waits for companions before a send (default 2000). */
  flushInterval?: number;
  /** Bounds of the persistent queue; past them the oldest events are dropped (defaults 1000 events, 512 KiB). */
  maxQueueEvents?: number;
  maxQueueBytes?: number;
  /** Largest request: events and bytes (defaults 100 and 60000, under the 64 KiB of sendBeacon). */
  maxBatchEvents?: number;
  maxBatchBytes?: number;
  /** Backoff after a failed send: first delay and cap, in milliseconds (defaults 1000 and 60000). */
  retryBaseDelay?: number;
  retryMaxDelay?: number;
}

/** JSON-serializable event properties. */
export type Properties = Record<string, unknown>;

export interface PackedgeClient {
  /**
   * Queues an event. True when it was queued; false (never an exception) when it cannot be
   * sent: no public key or endpoint, an empty event name, properties that are not JSON.
   */
  track(event: string, properties?: Properties): boolean;
  /** Sends what is queued now; resolves when done or when a retry has been scheduled. */
  flush(): Promise<void>;
}

export interface PackedgeStats {
  /** Events waiting in this page's queue. */
  queued: number;
  /** Events dropped because the queue was full (oldest first). */
  dropped: number;
  /** Events the server refused (4xx other than 429): never retried. */
  rejected: number;
}

export interface Packedge {
  /** The one-liner form: `packedge(publicKey).track(event, properties)`. */
  (publicKey: string, options?: PackedgeOptions): PackedgeClient;
  readonly version: string;
  init(publicKey: string, options?: PackedgeOptions): PackedgeClient;
  track(event: string, properties?: Properties): boolean;
  flush(): Promise<void>;
  stats(): PackedgeStats;
  /** Where clients created without `endpoint` send events. */
  setDefaultEndpoint(endpoint: string): void;
}

declare const packedge: Packedge;
export default packedge;
export declare const init: Packedge["init"];
export declare const track: Packedge["track"];
export declare const flush: Packedge["flush"];
export declare const stats: Packedge["stats"];
