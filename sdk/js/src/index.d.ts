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
  /** OpenFeature tracking (`client.track`) to PackEdge's `POST /ofrep/v1/track`; also the named export `tracking`. */
  tracking(options: PackedgeTrackingOptions): PackedgeTracking;
}

declare const packedge: Packedge;
export default packedge;
export declare const init: Packedge["init"];
export declare const track: Packedge["track"];
export declare const flush: Packedge["flush"];
export declare const stats: Packedge["stats"];

/** Options of {@link tracking}. */
export interface PackedgeTrackingOptions {
  /** The PackEdge server, e.g. `https://packedge.example.com` (`…/ofrep` or `…/ofrep/v1/track` mean the same). */
  endpoint: string;
  /** The environment's SDK key (`sdk_…`), the one the OFREP provider evaluates with. */
  sdkKey: string;
  /** Queued events that trigger a send at once (default 20). */
  batchSize?: number;
  /** Milliseconds an event waits for companions before a send (default 2000). */
  flushInterval?: number;
  /** Largest request in events (default 100) and events kept in memory, oldest dropped first (default 1000). */
  maxBatchEvents?: number;
  maxQueueEvents?: number;
  /** Backoff after a network error, 408, 429 or 5xx: first delay and cap in ms (defaults 1000 and 60000). */
  retryBaseDelay?: number;
  retryMaxDelay?: number;
  /** The fetch to send with (default: the global one). */
  fetch?: typeof fetch;
}

/** An OpenFeature evaluation context, as far as PackEdge reads it. */
export interface TrackingContext {
  /** Names the license; wins over targetingKey when it is a license key of the product. */
  licenseKey?: string;
  targetingKey?: string;
  [attribute: string]: unknown;
}

/** OpenFeature's TrackingEventDetails: an optional numeric value and custom fields, stored as the event's properties. */
export type TrackingEventDetails = { value?: number } & Record<string, unknown>;

export interface PackedgeTracking {
  /** Queues one event; false (never an exception) when it cannot be sent: no endpoint or key, empty name, details that are not JSON. */
  track(trackingEventName: string, context?: TrackingContext, details?: TrackingEventDetails): boolean;
  /** Sends what is queued now; resolves when done or when a retry has been scheduled. */
  flush(): Promise<void>;
  /**
   * Gives an OpenFeature provider (e.g. the OFREP web or server provider) a `track` method that
   * sends to PackEdge (calling the provider's own `track` too, if it had one); returns the same provider.
   */
  provider<P extends object>(provider: P): P & {
    track(trackingEventName: string, context?: TrackingContext, details?: TrackingEventDetails): void;
  };
  stats(): { queued: number; sent: number; dropped: number; rejected: number };
}

/** OpenFeature tracking (`client.track`) to PackEdge's `POST /ofrep/v1/track`. */
export declare const tracking: Packedge["tracking"];
