# E-mails (placements email.welcome et email.cart_reminder).
# Objets de 70 caractères au plus, pré-en-têtes de 110 au plus.
# Les corps sont en HTML : balisage simple, aucune variable dans les attributs.

## E-mail de bienvenue
email-welcome-subject = Bienvenue chez Northwind, { $first_name } !
    .anonymous = Bienvenue chez Northwind !
email-welcome-preheader = Votre code de bienvenue de 10 % vous attend à l’intérieur.
email-welcome-body =
    <p>Bonjour { $first_name },</p>
    <p>Merci de nous avoir rejoints. Utilisez le code <strong>HELLO10</strong> pour bénéficier de 10 % de réduction sur votre première commande.</p>
    <p>À bientôt sur les sentiers !</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>Merci de nous avoir rejoints. Utilisez le code <strong>HELLO10</strong> pour bénéficier de 10 % de réduction sur votre première commande.</p>
        <p>À bientôt sur les sentiers !</p>

email-welcome-pickup-subject = Bienvenue ! Le retrait en magasin est gratuit
email-welcome-pickup-preheader = Commandez en ligne, retirez en magasin Northwind en France, en Belgique ou au Canada.
email-welcome-pickup-body =
    <p>Bienvenue chez Northwind !</p>
    <p>Commandez en ligne et retirez votre équipement dans le magasin de votre choix, <strong>gratuitement</strong>, en général sous deux heures.</p>
    <p>Nos conseillers vous aideront volontiers à choisir la bonne taille.</p>

email-welcome-vip-subject = { $first_name }, votre cadeau de bienvenue VIP est arrivé
    .anonymous = Votre cadeau de bienvenue VIP est arrivé
email-welcome-vip-preheader = Accès anticipé aux soldes, livraison express offerte et un cadeau de notre part.
email-welcome-vip-body =
    <p>Bonjour { $first_name },</p>
    <p>En tant que membre VIP Northwind, vous profitez d’un <strong>accès anticipé</strong> à toutes les ventes, de la livraison express offerte et d’un cadeau de bienvenue avec votre prochaine commande.</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>En tant que membre VIP Northwind, vous profitez d’un <strong>accès anticipé</strong> à toutes les ventes, de la livraison express offerte et d’un cadeau de bienvenue avec votre prochaine commande.</p>

## Relance de panier
email-cart-reminder-subject = Vous avez oublié quelque chose dans votre panier
email-cart-reminder-preheader = Nous avons gardé vos articles, mais les tailles les plus demandées partent vite.
email-cart-reminder-body =
    <p>Votre panier vous attend.</p>
    <p>Nous conservons vos articles encore quelques jours. Les tailles et coloris les plus demandés partent vite : ne tardez pas trop.</p>
email-cart-reminder-cta-label = Retour au panier

email-cart-reminder-member-subject =
    { $tier ->
        [gold] Livraison offerte sur votre panier grâce au statut Gold
        [silver] Livraison offerte sur votre panier grâce au statut Silver
       *[other] Livraison offerte sur votre panier grâce à votre statut
    }
    .anonymous = Livraison offerte sur votre panier grâce à votre statut
email-cart-reminder-member-preheader = Les membres profitent de la livraison express offerte sur chaque commande.
email-cart-reminder-member-body =
    <p>Votre panier vous attend, et la livraison est pour nous.</p>
    <p>{ $points ->
        [one] Vous avez aussi <strong>{ $points } point</strong> à utiliser.
       *[other] Vous avez aussi <strong>{ $points } points</strong> à utiliser.
    }</p>
    .anonymous =
        <p>Votre panier vous attend, et la livraison est pour nous.</p>
        <p>N’oubliez pas que vous pouvez utiliser vos points lors du paiement.</p>

email-cart-reminder-lapsing-subject = { $first_name }, nous avons gardé votre panier
    .anonymous = Nous avons gardé votre panier pour vous
email-cart-reminder-lapsing-preheader = Voici 15 % de réduction pour vous aider à vous décider, valable 48 heures.
email-cart-reminder-lapsing-body =
    <p>Bonjour { $first_name },</p>
    <p>Cela faisait longtemps ! Votre panier est toujours là, et le code <strong>COMEBACK15</strong> vous offre 15 % de réduction pendant 48 heures.</p>
    .anonymous =
        <p>Bonjour,</p>
        <p>Cela faisait longtemps ! Votre panier est toujours là, et le code <strong>COMEBACK15</strong> vous offre 15 % de réduction pendant 48 heures.</p>
