export { createVault, VaultError, addressOf, ADDRESS_FIELDS, NO_BILLING_DETAILS, type Vault, type PaymentMethodRecord, type AllowRedisplay, type CardInput, type CardSecret } from './vault.ts';
export { loadMasterKey, keyRing, hashApiKey, type KeyRing } from './keys.ts';
export { seal, open, sealString, openString, type Sealed } from './envelope.ts';
export { luhnValid, brandOf, cvcLengthOk, isExpired, MAGIC_PAYMENT_METHODS, TEST_TOKENS } from './card.ts';
