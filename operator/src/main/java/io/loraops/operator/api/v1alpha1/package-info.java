/**
 * The {@code loraops.io/v1alpha1} API: {@link io.loraops.operator.api.v1alpha1.LoraJob} (a
 * fine-tuning sweep) and {@link io.loraops.operator.api.v1alpha1.LoraAdapter} (the versioned
 * registry of its results). Model only: no client, no CDI. Every field's description becomes {@code
 * kubectl explain}; every rule the API server can check is declared here so bad input is refused at
 * {@code kubectl apply}.
 */
package io.loraops.operator.api.v1alpha1;
